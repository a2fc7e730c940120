import { ConfigError } from '../config/config-error.js';
import { type FilterDefinition, readFilterFile } from '../config/filter-reader.js';
import { filterSearchPath } from '../config/filter-search-path.js';
import { parseNameWithParams } from '../config/tags.js';
import type { LogEvent } from '../model/log-event.js';
import { canonicalIp } from '../net/address.js';
import { CompiledRegex, fieldOfGroup } from './compiled-regex.js';
import { DateDetector, dateSpan } from './date-detector.js';
import type { DateTemplate } from './date-template.js';
import { presentEvent } from './event-text.js';
import { emptyLosses, type FilterLosses, type LossSink } from './filter-losses.js';
import { ML_IGNORED_BASE, ML_NO_FAILURE, ML_NO_MATCH, MultiLine } from './multi-line.js';
import { matchGuarded, runWithCpuBudget } from './regex-guard.js';
import { retryOffThread } from './regex-retry.js';
import { readVchkpwAddress, splitVchkpwTail } from './vchkpw-address.js';
import { type Clause, wordStarted } from './required-literal.js';
import { scrubPasswords, VCHKPW_OPEN } from './password-scrub.js';
import { zoneOffset } from './strptime.js';

export interface FilterMatch {
  /** Canonical address (src/net/address), never the text as logged. */
  ip: string;
  /** ms since the epoch: the event's time, or the date found in the line (NaN if the line has none). */
  time: number;
  /** `<F-NAME>` captures (user, fid, ...); never a logged password. Attacker-written: never put them in a shell. */
  fields: Record<string, string>;
  /** Index of the failregex that matched. */
  regex: number;
  /** The line (file) or presented text (event) with any logged password removed. */
  line: string;
}

export type FilterResult =
  | { kind: 'failure'; match: FilterMatch }
  /** A failregex matched but ignoreregex number `regex` too (or the regex said `<F-NOFAIL>`: -1). */
  | { kind: 'ignored'; regex: number }
  | { kind: 'missed' };

const MISSED: FilterResult = Object.freeze({ kind: 'missed' }) as FilterResult;
/** Returned as missed; told apart only so the regex tester can count it. */
const AMBIGUOUS: FilterResult = Object.freeze({ kind: 'missed' }) as FilterResult;
/** A failregex matched a host name, not an address: missed (never resolved), counted in `losses.hostName`. */
const HOST_NAME: FilterResult = Object.freeze({ kind: 'missed' }) as FilterResult;

/**
 * Text longer than this is cut to this length before the regexes see it. An
 * attacker controls most of a log line; a regex with nested repetition can
 * take time that grows fast with the length, and real mail log lines are far
 * below this (rsyslog's default maximum message is 8 KiB).
 */
export const MAX_TEXT = 32 * 1024;

type Groups = Record<string, string | undefined>;

/** Losses found by an attempt of matchEvents, counted only when the attempt finishes (it may be stopped and run again). */
interface PendingLosses {
  ambiguous: { candidates: string[]; line: string }[];
  tooLong: Record<string, unknown>[];
  hostName: number;
}

const EMPTY: Groups = Object.freeze({}) as Groups;

/**
 * A logged address in canonical form (src/net/address), or null.
 *
 * Fast path: a dotted quad without leading zeros is already canonical, so it
 * is only checked, digit by digit, not parsed into bytes and printed again.
 * The string returned is a copy, so a failure kept in a jail for hours does
 * not keep the whole log line it was cut from alive. Anything else (IPv6,
 * `::ffff:` forms) goes through canonicalIp.
 */
function canonical(text: string): string | null {
  const n = text.length;
  if (n >= 7 && n <= 15) {
    let parts = 0;
    let digits = 0;
    let value = 0;
    let ok = true;
    for (let i = 0; i <= n; i++) {
      const c = i === n ? 46 : text.charCodeAt(i);
      if (c >= 48 && c <= 57) {
        if (digits > 0 && value === 0) {
          ok = false; // leading zero
          break;
        }
        value = value * 10 + (c - 48);
        digits++;
        if (value > 255) {
          ok = false;
          break;
        }
      } else if (c === 46 && digits > 0) {
        parts++;
        digits = 0;
        value = 0;
      } else {
        ok = false;
        break;
      }
    }
    if (ok && parts === 4) return n < 13 ? text : (text + ' ').slice(0, n);
  }
  return canonicalIp(text);
}

/** Counters the regex tester reads: every failregex / ignoreregex that matched a line. */
export interface RegexCounters {
  failregex: number[];
  ignoreregex: number[];
  /** Lines whose text was cut to MAX_TEXT. */
  truncated: number;
  /** Failregex matches whose failure id was no usable address (a host name, a bad address). */
  noAddress: number;
  /** Failregex matches whose address could be read two ways (see vchkpw-address.ts): no failure. */
  ambiguous?: number;
}

/**
 * The regexes of one presentation of a filter (file lines, or events), and
 * the literal pre-check derived from them.
 */
class Matcher {
  /** Every clause must have one of its strings in the text; null: no pre-check possible. */
  readonly clauses: string[][] | null;

  constructor(
    readonly prefregex: CompiledRegex | undefined,
    readonly failregex: CompiledRegex[],
    readonly ignoreregex: CompiledRegex[],
  ) {
    this.clauses = literalClauses(prefregex, failregex, (c) => c);
  }

  /** Every clause has one of its strings in `text`. */
  passes(text: string): boolean {
    const cl = this.clauses;
    if (cl === null) return true;
    outer: for (let i = 0; i < cl.length; i++) {
      const c = cl[i]!;
      for (let j = 0; j < c.length; j++) if (text.indexOf(c[j]!) !== -1) continue outer;
      return false;
    }
    return true;
  }

  /** Groups of the failregex that matched in the last `run` (valid until the next one). */
  groups: Groups = EMPTY;
  /** Groups of the prefregex in the last `run`, when there is one. */
  pre: Groups | undefined = undefined;

  /**
   * fail2ban's findFailure for one line (filter.py): ignoreregex first when
   * there are far fewer of them than failregexes; prefregex, whose
   * `<F-CONTENT>` becomes what the failregexes see; the first failregex that
   * matches decides; then ignoreregex on the same text.
   *
   * Returns the index of the failregex that matched (its groups in
   * `this.groups` and `this.pre`), NO_MATCH, or IGNORED_BASE - j when
   * ignoreregex j matched. A number, not an object: this runs for every
   * candidate line.
   */
  run(text: string, counters?: RegexCounters): number {
    const ignore = this.ignoreregex;
    if (ignore.length > 0 && ignore.length < this.failregex.length - 2) {
      const i = firstMatch(ignore, text);
      if (i !== -1) {
        if (counters) counters.ignoreregex[i]!++;
        return IGNORED_BASE - i;
      }
    }
    let content = text;
    let pre: Groups | undefined;
    if (this.prefregex) {
      const m = this.prefregex.re.exec(text);
      if (!m) return NO_MATCH;
      pre = m.groups;
      const c = pre?.content;
      if (c) content = c;
    }
    const fail = this.failregex;
    for (let i = 0; i < fail.length; i++) {
      const m = fail[i]!.re.exec(content);
      if (!m) continue;
      if (counters) {
        counters.failregex[i]!++;
        for (let k = i + 1; k < fail.length; k++) if (fail[k]!.re.test(content)) counters.failregex[k]!++;
      }
      if (ignore.length > 0) {
        const j = firstMatch(ignore, content);
        if (j !== -1) {
          if (counters) counters.ignoreregex[j]!++;
          return IGNORED_BASE - j;
        }
      }
      this.groups = m.groups ?? EMPTY;
      this.pre = pre;
      return i;
    }
    return NO_MATCH;
  }
}

const NO_MATCH = -1;
const IGNORED_BASE = -2;

function firstMatch(list: CompiledRegex[], text: string): number {
  for (let i = 0; i < list.length; i++) if (list[i]!.re.test(text)) return i;
  return -1;
}

/**
 * Literal clauses for a matcher: the prefregex's own clause (it must match),
 * and the union of the failregexes' clauses (one of them must match). A
 * failregex without literals makes the union useless.
 */
function literalClauses(
  pref: CompiledRegex | undefined,
  fail: CompiledRegex[],
  adjust: (c: Clause) => Clause,
): string[][] | null {
  const out: string[][] = [];
  const p = pref ? adjust(pref.literals) : null;
  if (p) out.push(p);
  const union: string[] = [];
  let ok = fail.length > 0;
  for (const f of fail) {
    const c = adjust(f.literals);
    if (!c) {
      ok = false;
      break;
    }
    union.push(...c);
  }
  if (ok) out.push([...new Set(union)]);
  return out.length ? out : null;
}

function compileAll(def: FilterDefinition): Matcher {
  // As fail2ban's failregex.py: only `no` keeps host names out of <HOST>.
  const useDns = def.usedns !== 'no';
  // Over a buffer of several lines `^` and `$` hold at every line, as fail2ban compiles them (re.MULTILINE).
  const opts = { useDns, multiline: def.maxlines > 1 };
  const pref = def.prefregex ? new CompiledRegex(def.prefregex, 'prefregex', opts) : undefined;
  const fail = def.failregex.map((r) => new CompiledRegex(r, 'failregex', opts));
  const ignore = def.ignoreregex.map((r) => new CompiledRegex(r, 'ignoreregex', opts));
  fail.forEach((f, i) => {
    if (!f.hasFailureId() && !pref?.hasFailureId()) {
      throw new ConfigError(
        `no failure id: failregex must contain <HOST>, <ADDR>, <IP4>, <IP6>, <DNS> or <F-ID>: ${JSON.stringify(f.text)}`,
        def.failregex[i]!.where,
      );
    }
  });
  const m = new Matcher(pref, fail, ignore);
  warmUp(m);
  return m;
}

/**
 * V8 compiles a regex on its first runs (bytecode, then native code, and
 * again for text that is not Latin-1): done here, when the filter is
 * built, so that no log line's time limit pays for it.
 */
function warmUp(m: Matcher): void {
  const samples = ['mx1 app[1]: warm-up 203.0.113.1 user=x ip=[2001:db8::1]', 'mx1 app[1]: warm-up \u00e9\u20ac 203.0.113.1'];
  const all = [...(m.prefregex ? [m.prefregex] : []), ...m.failregex, ...m.ignoreregex];
  for (const r of all) for (const s of samples) for (let i = 0; i < 3; i++) r.re.exec(s);
}

let nextFilterId = 1;

/**
 * A fail2ban filter, compiled once, applied to every event of every jail
 * that uses it. Construct it with `loadFilter`.
 */
export class Filter {
  readonly name: string;
  /** fail2ban's `journalmatch`: OR ('+') of AND-groups of FIELD=value. */
  readonly journalmatch: string[][];
  readonly definition: FilterDefinition;
  /** The definition events are matched with (differs for `logtype = rfc5424`). */
  readonly eventDefinition: FilterDefinition;
  /** Identifies this compiled filter to the retry worker. */
  readonly id = nextFilterId++;
  /** Lines this filter could not use, by kind (shared with the filter it replaced on reload). */
  losses: FilterLosses = emptyLosses();
  /** Where lost lines are logged (the service sets one per jail); none: only counted. */
  lossLog: LossSink | undefined;
  /**
   * Receives the result of an event that the hot path's time limit cut and
   * the retry worker finished later (matchEvents reported it as missed).
   */
  onLateResult: ((ev: LogEvent, result: FilterResult) => void) | undefined;
  /** `addrform = vchkpw` ([Init]): `<F-ID>` is an address as vchkpw writes it (vchkpw-address.ts). */
  private readonly vchkpw: boolean;
  /**
   * Clauses a raw file line must satisfy (one string of each) to be worth
   * matching, or null when every line must be tried. Valid for the raw
   * line, before its date is cut out; the log scanner checks them on bytes.
   */
  readonly lineClauses: string[][] | null;
  private readonly lines: Matcher;
  private readonly events: Matcher;
  /**
   * A line's result depends on lines before it: `maxlines > 1` or an
   * `<F-MLFID>` connection id (multi-line.ts). Such a filter keeps state
   * per origin, and a file must be read by one thread, in order.
   */
  readonly stateful: boolean;
  /** `maxlines > 1`: every line joins the buffer, so none may be skipped by the literal pre-check. */
  private readonly buffered: boolean;
  /** The state of file lines and of events (a Filter is used for one or the other). */
  private readonly lineState: MultiLine | undefined;
  private readonly eventState: MultiLine | undefined;
  private readonly dates: DateDetector;
  private readonly tz: number | null;
  /** The last date parsed, replaced as a whole (a guarded batch may be stopped at any point). */
  /**
   * The last line whose date was found (not parsed until a line without a
   * date of its own needs it): fail2ban dates such a line with the last
   * date it saw when that is less than a minute before now.
   */
  private lastDated: { raw: string; template: DateTemplate; start: number; end: number } | undefined;
  private lastDate: { text: string; template: DateTemplate | null; now: number; time: number } = {
    text: '',
    template: null,
    now: 0,
    time: NaN,
  };

  constructor(def: FilterDefinition, eventDef: FilterDefinition = def) {
    this.name = def.name;
    this.definition = def;
    this.eventDefinition = eventDef;
    this.journalmatch = def.journalmatch;
    const form = (def.options.addrform ?? '').trim().toLowerCase();
    if (form !== '' && form !== 'vchkpw') {
      throw new ConfigError(`unknown addrform ${JSON.stringify(form)} (known: vchkpw)`, {
        file: def.files[def.files.length - 1],
        section: 'Init',
        key: 'addrform',
      });
    }
    this.vchkpw = form === 'vchkpw';
    this.lines = compileAll(def);
    this.events = eventDef === def ? this.lines : compileAll(eventDef);
    this.buffered = def.maxlines > 1;
    this.stateful = this.buffered || usesMlfid(this.lines) || usesMlfid(this.events);
    if (this.stateful) {
      const o = multiLineOptions(def, (n) => {
        this.losses.multilineEvicted += n;
      });
      const state = (m: Matcher) => new MultiLine(m.prefregex, m.failregex, m.ignoreregex, o);
      this.lineState = state(this.lines);
      this.eventState = state(this.events);
    }
    try {
      this.dates = new DateDetector(def.datepattern);
    } catch (err) {
      throw new ConfigError(`bad datepattern ${JSON.stringify(def.datepattern)}: ${(err as Error).message}`, {
        file: def.files[0],
        section: 'Definition',
        key: 'datepattern',
      });
    }
    this.tz = null;
    if (def.logtimezone) {
      const tz = zoneOffset(def.logtimezone);
      if (tz === null) throw new ConfigError(`unknown time zone ${JSON.stringify(def.logtimezone)}`, { key: 'logtimezone' });
      this.tz = tz;
    }
    // The raw-line pre-check is exact only when the date is cut at the line start.
    const cutSafe = this.dates.none || (this.dates.templates.length > 0 && this.dates.templates.every((t) => t.cutNearStart));
    this.lineClauses = cutSafe && !this.buffered
      ? literalClauses(this.lines.prefregex, this.lines.failregex, (c) => wordStarted(c))
      : null;
  }

  get failregex(): readonly CompiledRegex[] {
    return this.lines.failregex;
  }

  get ignoreregex(): readonly CompiledRegex[] {
    return this.lines.ignoreregex;
  }

  get prefregex(): CompiledRegex | undefined {
    return this.lines.prefregex;
  }

  /** Match a syslog or journal event, presented as `HOSTNAME APP[PID]: MESSAGE` (see event-text.ts). */
  matchEvent(ev: LogEvent): FilterResult {
    let text = presentEvent(ev);
    const m = this.events;
    if (!this.buffered && !m.passes(text)) return MISSED;
    if (text.length > MAX_TEXT) {
      const detail = { length: text.length, origin: ev.origin, sender: ev.sender, start: text.slice(0, 120) };
      if (this.pending) this.pending.tooLong.push(detail);
      else this.tooLongFound(detail);
      text = text.slice(0, MAX_TEXT);
    }
    const time = Number.isFinite(ev.time) ? ev.time : ev.received;
    const st = this.eventState;
    if (st !== undefined) return this.stateResult(st.run(ev.origin, text, ev.received), time, text, m, st);
    const r = m.run(text);
    if (r === NO_MATCH) return MISSED;
    if (r <= IGNORED_BASE) return { kind: 'ignored', regex: IGNORED_BASE - r };
    return this.failure(r, time, text, m);
  }

  /** The FilterResult of a stateful filter's run (multi-line.ts). */
  private stateResult(r: number, time: number, line: string, m: Matcher, st: MultiLine): FilterResult {
    if (r === ML_NO_MATCH) return MISSED;
    if (r === ML_NO_FAILURE) return { kind: 'ignored', regex: -1 };
    if (r <= ML_IGNORED_BASE) return { kind: 'ignored', regex: ML_IGNORED_BASE - r };
    return this.failure(r, time, line, m, st.groups);
  }

  /**
   * A guarded attempt (regex-guard.ts) starts: undo what a stopped one
   * changed in the filter's state. For callers of matchGuarded with a
   * stateful filter (log-scan.ts); matchEvents does it itself.
   */
  beginAttempt(): void {
    this.lineState?.journal.begin();
    this.eventState?.journal.begin();
  }

  /** The guarded attempt finished: what it changed in the filter's state stays. */
  commitAttempt(): void {
    this.lineState?.commit();
    this.eventState?.commit();
  }

  /** A guarded attempt was given up: undo it and stop recording. */
  abandonAttempt(): void {
    for (const st of [this.lineState, this.eventState]) {
      if (st === undefined) continue;
      st.journal.rollback();
      st.commit();
    }
  }

  /**
   * Match a batch of events under a time limit (regex-guard.ts): a crafted
   * line that makes a regex backtrack for ever is stopped, and the rest of
   * the batch is matched. The stopped event is reported as missed here and
   * handed to the retry worker, which matches it off the hot path with a
   * far longer budget and gives a failure to `onLateResult`; only an event
   * the worker cannot finish either is lost, counted in `losses.tooSlow`
   * and logged. This is the call for the service's pipeline; `matchEvent`
   * alone has no limit. Costs about 0.1 ms per batch, nothing per event.
   */
  matchEvents(events: readonly LogEvent[]): FilterResult[] {
    const out = new Array<FilterResult>(events.length);
    let found: PendingLosses = { ambiguous: [], tooLong: [], hostName: 0 };
    this.pending = found;
    try {
      matchGuarded(
        events.length,
        (i) => this.matchEvent(events[i]!),
        (i, r) => {
          out[i] = r;
        },
        (i) => {
          out[i] = MISSED;
          this.retryLater(events[i]!);
        },
        {
          // An attempt that was stopped is run again: count what the finished one found, once.
          attempt: () => {
            found = { ambiguous: [], tooLong: [], hostName: 0 };
            this.pending = found;
            this.beginAttempt();
          },
          commit: () => {
            this.commitAttempt();
            for (const a of found.ambiguous) this.ambiguousFound(a.candidates, a.line);
            for (const t of found.tooLong) this.tooLongFound(t);
            this.losses.hostName += found.hostName;
          },
        },
      );
    } finally {
      this.pending = undefined;
      // A last event given to the retry worker left its stopped attempt behind.
      this.abandonAttempt();
    }
    return out;
  }

  /** Inside matchEvents: losses of the running attempt, counted when it finishes. */
  private pending: PendingLosses | undefined;

  /**
   * One line with the long budget of the retry path (regex-guard.ts), for
   * the regex tester's lines that a batch's time limit cut: undefined when
   * even that did not finish.
   */
  matchLineLong(line: string, now: number, counters?: RegexCounters, prechecked = false): FilterResult | undefined {
    let r: FilterResult | undefined;
    const attempt: RegexCounters | undefined = counters && {
      failregex: counters.failregex.map(() => 0),
      ignoreregex: counters.ignoreregex.map(() => 0),
      truncated: 0,
      noAddress: 0,
    };
    const ok = runWithCpuBudget(() => {
      this.beginAttempt();
      if (attempt) {
        attempt.failregex.fill(0);
        attempt.ignoreregex.fill(0);
        attempt.truncated = attempt.noAddress = attempt.ambiguous = 0;
      }
      r = this.matchLineCounting(line, now, attempt, prechecked);
    });
    if (!ok) {
      this.abandonAttempt();
      return undefined;
    }
    this.commitAttempt();
    if (counters && attempt) {
      attempt.failregex.forEach((n, i) => (counters.failregex[i]! += n));
      attempt.ignoreregex.forEach((n, i) => (counters.ignoreregex[i]! += n));
      counters.truncated += attempt.truncated;
      counters.noAddress += attempt.noAddress;
      if (attempt.ambiguous) counters.ambiguous = (counters.ambiguous ?? 0) + attempt.ambiguous;
    }
    return r;
  }

  private retryLater(ev: LogEvent): void {
    this.losses.retried++;
    const answer = retryOffThread(this, ev);
    if (answer === null) {
      this.tooSlowLost(ev, 'the retry queue is full');
      return;
    }
    answer.then(
      (a) => {
        if (a.tooLong) this.tooLongFound(a.tooLong);
        if (a.ambiguous) this.ambiguousFound(a.ambiguous.candidates, a.ambiguous.line);
        if (a.hostName) this.losses.hostName++;
        if (a.result === undefined) this.tooSlowLost(ev, 'still too slow in the retry worker');
        else if (a.result.kind !== 'missed') this.onLateResult?.(ev, a.result);
      },
      () => this.tooSlowLost(ev, 'the retry worker failed'),
    );
  }

  private tooSlowLost(ev: LogEvent, why: string): void {
    this.losses.tooSlow++;
    this.lossLog?.lost('tooSlow', { why, origin: ev.origin, sender: ev.sender, start: ev.message.slice(0, 120) });
  }

  private tooLongFound(detail: Record<string, unknown>): void {
    this.losses.tooLong++;
    this.lossLog?.lost('tooLong', detail);
  }

  private ambiguousFound(candidates: string[], line: string): void {
    this.losses.ambiguous++;
    this.lossLog?.ambiguous(candidates, scrubPasswords(line));
  }

  /** Carry the loss counters of the filter this one replaces (reload), so they never go back. */
  adoptLosses(previous: Filter): void {
    this.losses = previous.losses;
    this.lossLog ??= previous.lossLog;
  }

  /** Match one line of a log file; its date is found with the filter's datepattern. */
  matchLine(line: string, now?: number): FilterResult {
    return this.matchLineCounting(line, now ?? Date.now());
  }

  /**
   * matchLine, also counting for the regex tester. `prechecked` says the
   * caller already verified `lineClauses` on the raw line.
   */
  matchLineCounting(line: string, now: number, counters?: RegexCounters, prechecked = false): FilterResult {
    if (!prechecked && this.lineClauses !== null && !passesAll(line, this.lineClauses)) return MISSED;
    let raw = line;
    if (raw.length > MAX_TEXT) {
      raw = raw.slice(0, MAX_TEXT);
      if (counters) counters.truncated++;
    }
    let text = raw;
    const dates = this.dates;
    let cutStart = -1;
    let cutEnd = -1;
    if (!dates.none && dates.find(raw)) {
      [cutStart, cutEnd] = dateSpan(dates.template!, dates.match!);
      text = cutStart === 0 ? raw.slice(cutEnd) : raw.slice(0, cutStart) + raw.slice(cutEnd);
      if (cutEnd > cutStart) this.lastDated = { raw, template: dates.template!, start: cutStart, end: cutEnd };
    }
    if (this.lineClauses === null && !this.buffered && !this.lines.passes(text)) return MISSED;
    const st = this.lineState;
    const r = st !== undefined ? st.run('', text, now, counters) : this.lines.run(text, counters);
    if (st !== undefined) {
      if (r === ML_NO_MATCH) return MISSED;
      if (r === ML_NO_FAILURE) return { kind: 'ignored', regex: -1 };
      if (r <= ML_IGNORED_BASE) return { kind: 'ignored', regex: ML_IGNORED_BASE - r };
    } else {
      if (r === NO_MATCH) return MISSED;
      if (r <= IGNORED_BASE) return { kind: 'ignored', regex: IGNORED_BASE - r };
    }
    let time: number;
    if (dates.none) time = now;
    else if (cutEnd > cutStart) time = this.dateTime(dates.template!, raw, cutStart, cutEnd, now);
    else time = this.undatedTime(now, cutStart !== -1);
    const res = this.failure(r, time, raw, this.lines, st?.groups);
    if ((res === MISSED || res === HOST_NAME) && counters) counters.noAddress++;
    if (res === AMBIGUOUS && counters) counters.ambiguous = (counters.ambiguous ?? 0) + 1;
    return res;
  }

  /**
   * The time of a matched line without a date (filter.py, processLine):
   * the last date seen, when it is less than a minute before now (a
   * continuation line of a multi-line record); else now if the datepattern
   * matched an empty date (`^WARNING:()**`: the line says it has none),
   * else none (NaN).
   */
  private undatedTime(now: number, emptyDate: boolean): number {
    const d = this.lastDated;
    if (d !== undefined) {
      const last = this.dateTime(d.template, d.raw, d.start, d.end, now);
      if (last > now - 60_000) return last;
    }
    return emptyDate ? now : NaN;
  }

  /**
   * Parse a date only for lines that matched. Consecutive matches often
   * share their date, or differ only in the seconds (`Mar  1 10:00:07` after
   * `Mar  1 10:00:03`): both are answered from the last date parsed,
   * compared in place without copying.
   */
  private dateTime(template: DateTemplate, raw: string, start: number, end: number, now: number): number {
    const last = this.lastDate;
    const len = end - start;
    if (template === last.template && len === last.text.length && Math.abs(now - last.now) < 60_000) {
      if (raw.startsWith(last.text, start)) return last.time;
      if (template.secondsLast && len >= 3 && raw.charCodeAt(end - 3) === 58 /* : */) {
        const s = twoDigits(raw, end - 2);
        const p = twoDigits(last.text, len - 2);
        if (s >= 0 && s < 60 && p >= 0 && p < 60 && raw.startsWith(last.text.slice(0, len - 2), start)) {
          return last.time + (s - p) * 1000;
        }
      }
    }
    const time = template.time(raw, now, this.tz);
    this.lastDate = { text: raw.slice(start, end), template, now, time };
    return time;
  }

  /**
   * The failure the last `m.run` found with failregex `regex`, or MISSED
   * when it names no usable address. `merged`: the groups a stateful
   * filter merged from the lines of one connection (prefregex's included).
   */
  private failure(regex: number, time: number, line: string, m: Matcher, merged?: Groups): FilterResult {
    const g = merged ?? m.groups;
    const pre = merged ? undefined : m.pre;
    if (!merged && (g.nofail !== undefined || (pre !== undefined && pre.nofail !== undefined))) return { kind: 'ignored', regex: -1 };
    // The failregex's groups win over the prefregex's, as in fail2ban.
    let addr = g.ip4 ?? g.ip6;
    let dns = g.dns;
    let fid = g.fid;
    if (pre !== undefined) {
      addr ??= pre.ip4 ?? pre.ip6;
      dns ??= pre.dns;
      fid ??= pre.fid;
    }
    let ip: string | null = null;
    let login: string | undefined;
    if (addr !== undefined) ip = canonical(addr);
    else if (dns !== undefined) ip = canonical(dns); // a host name is never resolved here
    else if (fid !== undefined && this.vchkpw) {
      const user = g.user;
      if (user !== undefined && user.indexOf(':') !== -1) {
        // A login as the client sent it, holding ':': the cut the regex chose may not be vchkpw's.
        const split = splitVchkpwTail(`${user}:${fid}`);
        if (split.kind === 'ambiguous') {
          if (this.pending) this.pending.ambiguous.push({ candidates: split.candidates, line });
          else this.ambiguousFound(split.candidates, line);
          return AMBIGUOUS;
        }
        if (split.kind === 'address') {
          ip = split.ip;
          login = split.login;
        }
      } else {
        ip = readVchkpwAddress(fid, true);
      }
    } else if (fid !== undefined) ip = canonical(fid);
    if (ip === null) {
      if (addr !== undefined || dns === undefined) return MISSED;
      if (this.pending) this.pending.hostName++;
      else this.losses.hostName++;
      return HOST_NAME;
    }
    const fields: Record<string, string> = {};
    const fail = m.failregex[regex]!;
    if (merged) addMergedFields(fields, merged);
    else {
      if (pre !== undefined) addFields(fields, m.prefregex!, pre, fail.groups);
      addFields(fields, fail, g, undefined);
    }
    if (fields.fid !== undefined && (fields.fid === addr || this.vchkpw)) delete fields.fid;
    if (login !== undefined) fields.user = login.indexOf(VCHKPW_OPEN) !== -1 ? scrubPasswords(login) : login;
    return {
      kind: 'failure',
      match: { ip, time, fields, regex, line: scrubPasswords(line) },
    };
  }
}

/** Copy the field groups of one regex's match into `fields`, passwords scrubbed. */
function addFields(fields: Record<string, string>, re: CompiledRegex, g: Groups, shadowedBy: ReadonlySet<string> | undefined): void {
  const fg = re.fieldGroups;
  for (let i = 0; i < fg.length; i++) {
    const f = fg[i]!;
    if (shadowedBy !== undefined && shadowedBy.has(f.group)) continue;
    let v = g[f.group];
    if (v === undefined) continue;
    if (v.indexOf(VCHKPW_OPEN) !== -1) v = scrubPasswords(v);
    if (f.alt) {
      if (!fields[f.field]) fields[f.field] = v;
    } else {
      fields[f.field] = v;
    }
  }
}

/** Fields of the groups a connection's lines merged (multi-line.ts), by the rules of CompiledRegex.fieldGroups. */
function addMergedFields(fields: Record<string, string>, g: Groups): void {
  const alts: Array<[string, string]> = [];
  for (const k in g) {
    let v = g[k];
    if (v === undefined) continue;
    const f = fieldOfGroup(k);
    if (f === null) continue;
    if (v.indexOf(VCHKPW_OPEN) !== -1) v = scrubPasswords(v);
    if (f.alt) alts.push([f.field, v]);
    else fields[f.field] = v;
  }
  for (const [field, v] of alts) if (!fields[field]) fields[field] = v;
}

/** Does a regex of the matcher capture a connection id (`<F-MLFID>`)? */
function usesMlfid(m: Matcher): boolean {
  return [...(m.prefregex ? [m.prefregex] : []), ...m.failregex].some((r) => r.groups.has('mlfid'));
}

/**
 * The bounds of a stateful filter's memory, from `[Init]` or the jail's
 * parameters: `mlfidcachesize` connections at most (default 10,000; the
 * least recently used is evicted and counted), forgotten after
 * `mlfidcachetime` seconds without a line (default 300, fail2ban's).
 */
function multiLineOptions(def: FilterDefinition, onEvicted: (n: number) => void): ConstructorParameters<typeof MultiLine>[3] {
  const num = (key: string, dflt: number): number => {
    const raw = def.options[key];
    if (raw === undefined || raw.trim() === '') return dflt;
    const v = Number(raw.trim());
    if (!Number.isInteger(v) || v < 1) {
      throw new ConfigError(
        `not a positive whole number: ${JSON.stringify(raw)}`,
        def.optionWhere?.[key] ?? { file: def.files[def.files.length - 1], section: 'Init', key },
      );
    }
    return v;
  };
  return {
    maxlines: def.maxlines,
    cacheSize: num('mlfidcachesize', 10_000),
    cacheAgeMs: num('mlfidcachetime', 300) * 1000,
    onEvicted,
  };
}

/** The number written by two ASCII digits at `at`, or -1. */
function twoDigits(s: string, at: number): number {
  const a = s.charCodeAt(at) - 48;
  const b = s.charCodeAt(at + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

function passesAll(text: string, clauses: string[][]): boolean {
  outer: for (let i = 0; i < clauses.length; i++) {
    const c = clauses[i]!;
    for (let j = 0; j < c.length; j++) if (text.indexOf(c[j]!) !== -1) continue outer;
    return false;
  }
  return true;
}

/** Parameters of a spec plus those a jail passes; the spec's own win. */
function mergeParams(spec: Record<string, string>, jail: Record<string, string> | undefined): Record<string, string> {
  return { ...(jail ?? {}), ...spec };
}

/**
 * Load a filter as a jail's `filter =` or `fleetban regex` names it:
 * - `courier-auth` or `courier-auth[mode=aggressive]`: `filter.d/` under confDir;
 * - a path to any fail2ban filter file (its `[INCLUDES]` come along);
 * - anything else is a bare failregex (one line), with fail2ban's default
 *   date formats.
 * Throws ConfigError (file, line, key) for anything wrong in the filter.
 */
export function loadFilter(confDir: string, spec: string, jailParams?: Record<string, string>): Filter {
  let named: { name: string; params: Record<string, string> } | undefined;
  try {
    named = parseNameWithParams(spec);
  } catch {
    named = undefined;
  }
  if (named) {
    const params = mergeParams(named.params, jailParams);
    const def = readFilterFile(confDir, named.name, params);
    if (def) {
      let eventDef = def;
      if (def.logtype === 'rfc5424') {
        // Events are presented without the RFC 5424 header: resolve the short prefix for them.
        eventDef = readFilterFile(confDir, named.name, { ...params, logtype: 'short' })!;
      }
      return new Filter(def, eventDef);
    }
    if (/^[\w.@+-]+$/.test(named.name) && !/[<\\]/.test(spec)) {
      const searched = filterSearchPath(confDir).map((d) => `${d}/filter.d`).join(', ');
      throw new ConfigError(`no filter "${named.name}" in ${searched} (and not a regex: it has no <HOST>)`, {
        file: `${confDir}/filter.d/${named.name}.conf`,
      });
    }
  }
  // A bare regex, as fail2ban-regex takes one on its command line.
  const where = { file: '<command line>', key: 'failregex' };
  const def: FilterDefinition = {
    name: 'regex',
    files: [],
    failregex: [{ text: spec, where }],
    ignoreregex: [],
    datepattern: jailParams?.datepattern,
    journalmatch: [],
    maxlines: 1,
    logtype: 'file',
    usedns: (jailParams?.usedns ?? 'warn').toLowerCase(),
    options: { ...(jailParams ?? {}) },
  };
  return new Filter(def);
}
