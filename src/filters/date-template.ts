import { translatePythonRegex } from './python-regex.js';
import { expandDirectives, timeFromFields } from './strptime.js';

/**
 * One way of finding a date in a log line: a regex whose group 1 is the date
 * text (cut out of the line before the failregexes see it, as fail2ban does)
 * and a way to turn the match into a time.
 *
 * Construction follows fail2ban's rules for `datepattern` (jail.conf(5)):
 * - strptime directives (`%b %d %H:%M:%S`, `%ExY`, `%%`) become named groups;
 *   an alphabetic one (%b, %a, %p, ...) makes the date case-insensitive;
 * - a pattern is searched at a word start and must end at a word end, unless
 *   it is anchored (`^`, `$`), marked unbounded (`{UNB}`) or has `**` at an end;
 * - `{^LN-BEG}` anchors it at the line start, after at most two non-word
 *   characters (so `[Mar  1 ...]` and `<Mar  1 ...>` work);
 * - without a group of its own the whole date is group 1, so only the date,
 *   not the anchors, is cut out.
 */
export interface DateTemplate {
  readonly name: string;
  /** Finds the date: group 1 is its text. Lean (no named groups) because it runs on every candidate line. */
  readonly regex: RegExp;
  /** Anchored at the line start or end (fail2ban's LINE_BEGIN / LINE_END): the first such match wins. */
  readonly anchored: boolean;
  /**
   * The date (group 1) starts at the line start or after at most two non-word
   * characters. Then a literal that starts with a word character and is in
   * the line without its date is also in the raw line: the cheap pre-check
   * may run on the raw line.
   */
  readonly cutNearStart: boolean;
  /** Group 1 ends where the whole match ends (it was wrapped by us), so no indices are needed. */
  readonly cutAtEnd: boolean;
  /**
   * A date text ending in `:SS` ends with its seconds field: two such texts
   * that differ only in those two digits are that many seconds apart, no
   * parsing needed (see Filter.dateTime).
   */
  readonly secondsLast: boolean;
  /**
   * The time the date in `line` states (ms since the epoch), NaN when it is
   * no valid date. Runs the full regex (with the strptime groups) again, so
   * only lines that matched a failregex pay for it.
   */
  time(line: string, now: number, defaultTz: number | null): number;
}

// fail2ban's rules for word boundaries and anchors, applied to the pattern text.
const RE_NO_WRD_BOUND_BEG = /^\(*(?:\(\?\w+\))?(?:\^|\(*\*\*|\((?:\?:)?\^)/;
const RE_NO_WRD_BOUND_END = /(?<!\\)(?:\$\)?|\\b|\\s|\*\*\)*)$/;
const RE_GROUPED = /(?<!\(\?)(?<!\\)\((?!\?)/;
const RE_GROUP = /^((?:\(\?\w+\))?\^?(?:\(\?\w+\))?)(.*?)(\$?)$/s;
const RE_GLOBALFLAGS = /(\(\?[a-z]+\))/;
const RE_LINE_BOUND_BEG = /^(?:\(\?\w+\))?(?:\^|\((?:\?:)?\^(?!\|))/;
const RE_DEL_WRD_BOUNDS_BEG = /^\(*(?:\(\?\w+\))?\(*\*\*/;
const RE_DEL_WRD_BOUNDS_END = /(?<!\\)\*\*\)*$/;

type Bound = boolean | 'start';

interface Built {
  regex: string;
  anchored: boolean;
  wrapped: boolean;
  cutNearStart: boolean;
}

/** fail2ban's DateTemplate.setRegex: boundaries, group 1, `**` markers. */
function bound(regexIn: string, wordBegin: Bound, wordEnd: boolean): Built {
  let regex = regexIn.trim();
  let gf = '';
  const g = RE_GLOBALFLAGS.exec(regex);
  if (g) {
    gf = g[1]!;
    regex = regex.slice(0, g.index) + regex.slice(g.index + gf.length);
  }
  const boundBegin = wordBegin !== false && !RE_NO_WRD_BOUND_BEG.test(regex);
  const boundEnd = wordEnd && !RE_NO_WRD_BOUND_END.test(regex);
  let wrapped = false;
  let cutNearStart = false;
  if (!RE_GROUPED.test(regex)) {
    const m = RE_GROUP.exec(regex)!;
    regex = `${m[1]}(${m[2]})${m[3]}`;
    wrapped = true;
    cutNearStart = m[1]!.includes('^');
  }
  let anchored = false;
  if (boundBegin) {
    if (wordBegin === 'start') {
      regex = '^(?:\\W{0,2})?' + regex;
      anchored = true;
      cutNearStart = wrapped;
    } else {
      regex = '(?=^|\\b|\\W)' + regex;
    }
  }
  if (boundEnd) regex += '(?=\\b|\\W|$)';
  if (!anchored && RE_LINE_BOUND_BEG.test(regex)) anchored = true;
  if (!anchored && /(?<![\\|])(?:\$\)?)$/.test(regexIn.trim())) anchored = true;
  regex = regex.replace(RE_DEL_WRD_BOUNDS_BEG, (m) => m.replace('**', ''));
  regex = regex.replace(RE_DEL_WRD_BOUNDS_END, (m) => m.replace('**', ''));
  return { regex: gf + regex, anchored, wrapped, cutNearStart };
}

/**
 * Does group 1 end where the match ends? True when we wrapped the date in
 * group 1 ourselves: after it come only `$` and the word-end lookahead.
 */
function compile(b: Built): { regex: RegExp; full: RegExp; cutAtEnd: boolean } {
  // Dates are ASCII: (?a) keeps \d a plain [0-9], which is faster than Unicode digits.
  const t = translatePythonRegex('(?a)' + b.regex);
  const cutAtEnd = b.wrapped;
  const flags = cutAtEnd ? t.flags : t.flags + 'd';
  return { regex: new RegExp(leanSource(t.source), flags), full: new RegExp(t.source, t.flags), cutAtEnd };
}

/**
 * The source with its named groups made non-capturing (those a backreference
 * needs excepted): finding the date needs only group 1, and every named group
 * costs an object on every match. Group 1 comes first, so its number stays.
 */
function leanSource(source: string): string {
  if (/\\[1-9]/.test(source)) return source;
  return source.replace(/\(\?<([A-Za-z_]\w*)>/g, (whole, name: string) =>
    source.includes(`\\k<${name}>`) ? whole : '(?:',
  );
}

/** A strptime-style pattern such as `%Y-%m-%d %H:%M:%S` or `{^LN-BEG}%b %d %H:%M:%S`. */
export function patternTemplate(pattern: string, now = new Date()): DateTemplate {
  let p = pattern;
  let wordBegin: Bound = true;
  let wordEnd = true;
  if (p.startsWith('{UNB}')) {
    p = p.slice(5);
    wordBegin = wordEnd = false;
  }
  if (wordBegin && p.startsWith('{^LN-BEG}')) {
    p = p.slice(9);
    wordBegin = 'start';
  }
  const { regex, alpha } = expandDirectives(p, now);
  const built = bound(alpha ? '(?i)' + regex : regex, wordBegin, wordEnd);
  const { regex: re, full, cutAtEnd } = compile(built);
  // Strip optional trailing groups; what remains must end with the seconds.
  let tail = p;
  for (let prev = ''; prev !== tail; ) {
    prev = tail;
    tail = tail.replace(/\(\?:[^()]*\)\?$/, '');
  }
  const secondsLast = /(?:^|[^%])%(?:Ex)?S$/.test(tail) && !/%[fz]|%Ex[zZ]|%Z/.test(tail);
  return {
    name: pattern,
    regex: re,
    anchored: built.anchored,
    cutNearStart: built.cutNearStart,
    cutAtEnd,
    secondsLast,
    time: (line, at, tz) => {
      const m = full.exec(line);
      return m?.groups ? timeFromFields(m.groups, at, tz) : NaN;
    },
  };
}

const EPOCH_RE = '\\d{10,11}\\b(?:\\.\\d{3,6})?';
const LONG_EPOCH_RE = '\\d{10,11}(?:\\d{3}(?:\\.\\d{1,6}|\\d{3})?)?';

function epochValue(text: string, long: boolean): number {
  let v = Number(text);
  if (long && text.length >= 13) v = text.length >= 16 && !text.includes('.') ? v / 1e6 : v / 1e3;
  return v * 1000;
}

/**
 * Seconds since the epoch (`EPOCH`), or milli/microseconds too (`LEPOCH`):
 * at a line start (`{^LN-BEG}EPOCH`), anywhere at a word start, or inside a
 * pattern (`^\[{EPOCH}\]`).
 */
export function epochTemplate(opts: { lineBeginOnly?: boolean; long?: boolean; pattern?: string }): DateTemplate {
  const long = !!opts.long;
  const num = long ? LONG_EPOCH_RE : EPOCH_RE;
  let built: Built;
  let group = 1;
  if (opts.pattern) {
    built = bound('(' + opts.pattern.replace(/(?<!\\)\{L?EPOCH\}/i, `(${num})`) + ')', true, true);
    built.wrapped = true;
    group = 2;
  } else if (!opts.lineBeginOnly) {
    // fail2ban also names `[1700000000]` and `audit(1700000000.123:42)` here; its
    // conditional lookaheads accept the same lines as this plain alternation.
    built = bound(`((?:^|(?<=^\\[)|(?<=\\baudit\\())${num})`, false, true);
    built.wrapped = true;
  } else {
    built = bound(`(${num})`, 'start', true);
    built.wrapped = true;
    built.cutNearStart = true;
  }
  const { regex, full, cutAtEnd } = compile(built);
  return {
    name: opts.pattern ?? (long ? 'LEPOCH' : 'EPOCH'),
    regex,
    anchored: built.anchored,
    cutNearStart: built.cutNearStart,
    cutAtEnd,
    secondsLast: false,
    time: (line) => {
      const m = full.exec(line);
      return m ? epochValue(m[group]!, long) : NaN;
    },
  };
}

/** TAI64N labels (`@4000000063b5c2a81c8f1a2c`, daemontools' multilog). */
export function tai64nTemplate(lineBegin: boolean): DateTemplate {
  const built = bound('@[0-9a-f]{24}', lineBegin ? 'start' : false, true);
  const { regex, full, cutAtEnd } = compile(built);
  return {
    name: 'TAI64N',
    regex,
    anchored: built.anchored,
    cutNearStart: built.cutNearStart,
    cutAtEnd,
    secondsLast: false,
    time: (line) => {
      const m = full.exec(line);
      return m ? parseInt(m[1]!.slice(2, 17), 16) * 1000 : NaN;
    },
  };
}

/** A `{NONE}` datepattern: the line states no time; it counts as now. */
export const NO_DATE = 'none';

export { timeFromFields };
