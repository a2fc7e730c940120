import { inferYear } from '../syslog/year.js';

/**
 * fail2ban's date patterns are strptime formats (`%b %d %H:%M:%S`) that it
 * turns into regexes with one named group per field. This module holds the
 * regex of each field and the arithmetic that turns captured fields into a
 * time. The field regexes are fail2ban's (documented in jail.conf(5) and
 * fail2ban's strptime notes), so a datepattern finds the same text here.
 */

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTHS_FULL = [
  'january', 'february', 'march', 'april', 'may', 'june',
  'july', 'august', 'september', 'october', 'november', 'december',
];
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const DAYS_FULL = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];

/** Alternatives longest first, so `may` does not cut `mayday` short (as Python's _strptime does). */
function names(group: string, list: string[]): string {
  return `(?P<${group}>${[...list].sort((a, b) => b.length - a.length).join('|')})`;
}

const TZ_ABBR = '[A-Z](?:[A-Z]{2,4})?';

/**
 * Century prefixes for `%ExY`: fail2ban accepts years from 2000 up to three
 * years ahead, so a number like 1999 or 2150 in a log line is not taken for
 * a year.
 */
function extendedYear(now: Date): string {
  const last = now.getFullYear() + 3;
  const decades: string[] = [];
  for (let y = 2000; y <= last; y += 10) decades.push(String(y).slice(0, 3));
  return `(?P<Y>(?:${decades.join('|')})\\d)`;
}

/** Python-syntax regex of each strptime directive, as fail2ban defines them. */
export function timeDirectives(now = new Date()): Record<string, string> {
  return {
    a: names('a', DAYS),
    A: names('A', DAYS_FULL),
    b: names('b', MONTHS),
    B: names('B', MONTHS_FULL),
    d: '(?P<d>[1-2]\\d|[0 ]?[1-9]|3[0-1])',
    f: '(?P<f>[0-9]{1,6})',
    H: '(?P<H>[0-1]?\\d|2[0-3])',
    I: '(?P<I>1[0-2]|0[1-9]|[1-9])',
    j: '(?P<j>36[0-6]|3[0-5]\\d|[1-2]\\d\\d|0[1-9]\\d|00[1-9]|[1-9]\\d|0[1-9]|[1-9])',
    k: ' ?(?P<H>[0-2]?\\d)',
    l: ' ?(?P<I>1?\\d)',
    m: '(?P<m>0?[1-9]|1[0-2])',
    M: '(?P<M>[0-5]?\\d)',
    p: '(?P<p>am|pm)',
    S: '(?P<S>[0-5]?\\d|6[0-1])',
    U: '(?P<U>5[0-3]|[0-4]\\d|\\d)',
    w: '(?P<w>[0-6])',
    W: '(?P<W>5[0-3]|[0-4]\\d|\\d)',
    y: '(?P<y>\\d\\d)',
    Y: '(?P<Y>\\d{4})',
    z: '(?P<z>Z|UTC|GMT|[+-][01]\\d(?::?\\d{2})?)',
    Z: '(?P<Z>Z|[A-Z]{3,5})',
    ExZ: `(?P<Z>${TZ_ABBR})`,
    Exz: `(?P<z>(?:${TZ_ABBR})?[+-][01]\\d(?::?\\d{2})?|${TZ_ABBR})`,
    Exd: '(?P<d>[1-2]\\d|0[1-9]|3[0-1])',
    Exm: '(?P<m>0[1-9]|1[0-2])',
    ExH: '(?P<H>[0-1]\\d|2[0-3])',
    Exk: ' ?(?P<H>[0-1]?\\d|2[0-3])',
    Exl: ' ?(?P<I>1[0-2]|\\d)',
    ExM: '(?P<M>[0-5]\\d)',
    ExS: '(?P<S>[0-5]\\d|6[0-1])',
    ExY: extendedYear(now),
    Exy: '(?P<y>\\d{2})',
  };
}

const DIRECTIVE_RE = /%(%|Ex[A-Za-z]|[A-Za-z])/g;

/**
 * Replace the `%X` directives of a datepattern by their regexes. `%%` is a
 * literal percent. Returns whether an alphabetic field (%a %A %b %B %p) is
 * used: fail2ban then matches the date case-insensitively.
 */
export function expandDirectives(pattern: string, now = new Date()): { regex: string; alpha: boolean } {
  const table = timeDirectives(now);
  let alpha = false;
  const regex = pattern.replace(DIRECTIVE_RE, (whole, d: string) => {
    if (d === '%') return '%';
    const re = table[d];
    if (re === undefined) throw new Error(`unknown date directive ${whole}`);
    if ('aAbBp'.includes(d)) alpha = true;
    return re;
  });
  return { regex, alpha };
}

/** Offsets in minutes of the zone abbreviations fail2ban knows (fixed, no DST switch). */
const TZ_TABLE = `
-12 Y
-11 X NUT SST
-10 W CKT HAST HST TAHT TKT
-9 V AKST GAMT GIT HADT HNY
-8 U AKDT CIST HAY HNP PST PT
-7 T HAP HNR MST PDT
-6 S CST EAST GALT HAR HNC MDT
-5 R CDT COT EASST ECT EST ET HAC HNE PET
-4 Q AST BOT CLT COST EDT FKT GYT HAE HNA PYT
-3 P ADT ART BRT CLST FKST GFT HAA PMST PYST SRT UYT WGT
-2 O BRST FNT PMDT UYST WGST
-1 N AZOT CVT EGT
0 Z EGST GMT UTC WET WT
1 A CET DFT WAT WEDT WEST
2 B CAT CEDT CEST EET SAST WAST
3 C EAT EEDT EEST IDT MSK
4 D AMT AZT GET GST KUYT MSD MUT RET SAMT SCT
5 E AMST AQTT AZST HMT MAWT MVT PKT TFT TJT TMT UZT YEKT
6 F ALMT BIOT BTT IOT KGT NOVT OMST YEKST
7 G CXT DAVT HOVT ICT KRAT NOVST OMSST THA WIB
8 H ACT AWST BDT BNT CAST HKT IRKT KRAST MYT PHT SGT ULAT WITA WST
9 I AWDT IRKST JST KST PWT TLT WDT WIT YAKT
10 K AEST ChST PGT VLAT YAKST YAPT
11 L AEDT LHDT MAGT NCT PONT SBT VLAST VUT
12 M ANAST ANAT FJT GILT MAGST MHT NZST PETST PETT TVT WFT
13 FJST NZDT
11.5 NFT
10.5 ACDT LHST
9.5 ACST
6.5 CCT MMT
5.75 NPT
5.5 SLT
4.5 AFT IRDT
3.5 IRST
-2.5 HAT NDT
-3.5 HNT NST NT
-4.5 HLV VET
-9.5 MART MIT`;

const TZ_OFFSETS = new Map<string, number>();
for (const line of TZ_TABLE.trim().split('\n')) {
  const [off, ...zones] = line.trim().split(/\s+/);
  for (const z of zones) TZ_OFFSETS.set(z, Math.round(Number(off) * 60));
}

const ZONE_RE = /^([A-Za-z]{1,5})?(?:([+-])([01]\d)(?::?(\d{2}))?)?$/;

/**
 * Minutes east of UTC for `CET`, `+0100`, `UTC+01:00`, `-05`, `Z`; null when
 * the text is no zone fail2ban knows.
 */
export function zoneOffset(text: string): number | null {
  const t = text.trim();
  if (t === 'Z' || t === 'UTC' || t === 'GMT' || t === '') return 0;
  const m = ZONE_RE.exec(t);
  if (!m) return null;
  let base = 0;
  if (m[1]) {
    const known = TZ_OFFSETS.get(m[1]);
    if (known === undefined) return null;
    base = known;
  }
  if (!m[2]) return m[1] ? base : null;
  const sign = m[2] === '-' ? -1 : 1;
  return base + sign * (Number(m[3]) * 60 + Number(m[4] ?? 0));
}

/**
 * The start of an hour of a calendar day (ms since the epoch), in the zone
 * `tz` (minutes east of UTC) or, when null, in this machine's local zone;
 * NaN for a day that does not exist (31 April). Cached: log lines come in
 * time order, so the same few hours are asked for again and again, and
 * building a local Date is the costly part of reading a stamp.
 */
const hourCache = new Map<number, number>();
function hourStart(y: number, month: number, day: number, hour: number, tz: number | null): number {
  const key = ((((y * 13 + month) * 32 + day) * 25 + hour) * 2 + (tz === null ? 1 : 0)) * 1441 + (tz ?? 0) + 720;
  let v = hourCache.get(key);
  if (v !== undefined) return v;
  if (tz === null) {
    const d = new Date(y, month - 1, day, hour, 0, 0);
    v = d.getMonth() === month - 1 && d.getDate() === day ? d.getTime() : NaN;
  } else {
    const utc = Date.UTC(y, month - 1, day, hour, 0, 0);
    const d = new Date(utc);
    v = d.getUTCMonth() === month - 1 && d.getUTCDate() === day ? utc - tz * 60_000 : NaN;
  }
  if (hourCache.size >= 4096) hourCache.clear();
  hourCache.set(key, v);
  return v;
}

/** Fields a date regex captured; only the named strptime groups are read. */
export type DateFields = Record<string, string | undefined>;

const DAY_MS = 86_400_000;

/**
 * The time (ms since the epoch) the captured fields state, or NaN when they
 * do not form a real date.
 *
 * - No zone in the text: `defaultTz` (minutes east of UTC, the jail's
 *   logtimezone) if given, else the local time zone of this machine, as
 *   fail2ban does.
 * - No year (RFC 3164 stamps): the year that puts the stamp closest to now
 *   without making it more than a day ahead of now, so a `Dec 31` line read
 *   on `Jan 1` is last year's and a `Jan 1` line read just before midnight
 *   on `Dec 31` by a server a few hours ahead is next year's. fail2ban only
 *   ever steps back a year; it would date that last line a year too early.
 * - No day at all (`%H:%M:%S` alone): today, or yesterday if that would be
 *   in the future.
 * - Fractions of a second are dropped, as fail2ban does.
 */
export function timeFromFields(f: DateFields, now: number, defaultTz: number | null = null): number {
  let year: number | undefined;
  let month: number | undefined;
  let day: number | undefined;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let tz: number | null = null;
  if (f.y !== undefined) {
    year = Number(f.y);
    if (year <= 2000) year += 2000;
  }
  if (f.Y !== undefined) year = Number(f.Y);
  if (f.m !== undefined) month = Number(f.m);
  if (f.b !== undefined) month = MONTHS.indexOf(f.b.toLowerCase().slice(0, 3)) + 1;
  if (f.B !== undefined) month = MONTHS_FULL.indexOf(f.B.toLowerCase()) + 1;
  if (f.d !== undefined) day = Number(f.d.trim());
  if (f.H !== undefined) hour = Number(f.H.trim());
  if (f.I !== undefined) {
    hour = Number(f.I.trim());
    const pm = (f.p ?? '').toLowerCase() === 'pm';
    if (pm && hour !== 12) hour += 12;
    else if (!pm && hour === 12) hour = 0;
  }
  if (f.M !== undefined) minute = Number(f.M);
  if (f.S !== undefined) second = Math.min(Number(f.S), 59);
  const zone = f.z ?? f.Z;
  if (zone !== undefined) {
    tz = zoneOffset(zone);
    if (tz === null) return NaN;
  } else if (defaultTz !== null) {
    tz = defaultTz;
  }

  const nowDate = new Date(now);
  const assumeYear = year === undefined;
  if (year === undefined) year = tz === null ? nowDate.getFullYear() : nowDate.getUTCFullYear();
  if ((month === undefined || day === undefined) && f.j !== undefined) {
    // Day of the year.
    const jan1 = Date.UTC(year, 0, 1);
    const d = new Date(jan1 + (Number(f.j) - 1) * DAY_MS);
    month = d.getUTCMonth() + 1;
    day = d.getUTCDate();
  }
  const assumeToday = month === undefined && day === undefined;
  if (assumeToday) {
    month = (tz === null ? nowDate.getMonth() : nowDate.getUTCMonth()) + 1;
    day = tz === null ? nowDate.getDate() : nowDate.getUTCDate();
  }
  if (month === undefined || day === undefined || month < 1 || month > 12 || day < 1 || day > 31) return NaN;

  const at = (y: number): number => {
    const start = hourStart(y, month!, day!, hour, tz);
    return Number.isNaN(start) ? NaN : start + minute * 60_000 + second * 1000;
  };

  let t = at(year);
  if (assumeToday && t > now) t -= DAY_MS;
  // The same year rule as the syslog parser's (src/syslog/year.ts): the
  // latest year that does not put the stamp more than a day ahead.
  // A time of day alone is today's or yesterday's (above): no year to infer.
  if (assumeYear && !assumeToday) t = at(inferYear(month - 1, day, hour, minute, second, now));
  return t;
}
