import type { CompiledRegex } from './compiled-regex.js';
import { RecentMap } from './recent-map.js';
import { StateJournal } from './state-journal.js';

/**
 * fail2ban's filters that look past one line (server/filter.py,
 * findFailure and _mergeFailure, 1.0.2), for one jail's filter:
 *
 * - `maxlines = N`: the last N lines (their dates cut out) are kept and the
 *   regexes run over them joined by "\n", compiled with `^`/`$` at every
 *   line. When a failregex matched, the lines of the match leave the
 *   buffer; those its `<SKIPLINES>` passed over stay for later matches.
 * - `<F-MLFID>` (a connection id, e.g. sshd's `host sshd[pid]: ` prefix):
 *   the fields of every matching line of one connection are merged, so a
 *   failure on a line without an address gets the address an earlier line
 *   of the connection gave (until then it is pending, no failure);
 *   `<F-NOFAIL>` marks a line that is no failure by itself, but whose fields
 *   join the connection; `<F-MLFGAINED>` (an accepted login) makes the
 *   connection's pending failures no failures, unless it tried several
 *   users; `<F-MLFFORGET>` (the connection closed) forgets it.
 *
 * Both kinds of state are kept per origin (the mail server a line came
 * from): `sshd[1234]` on mx1 is not `sshd[1234]` on mx2, and mx2's lines
 * never join mx1's buffer. Both are bounded (RecentMap): a fixed number of
 * connections (fail2ban: 100, here `mlfidcachesize`, default 10,000) and
 * of origins, the least recently used evicted and counted, and a
 * connection not seen for `mlfidcachetime` seconds (default 300, as
 * fail2ban) forgotten.
 *
 * This runs the first failregex that matches, as fail2ban's service and
 * `fail2ban-regex --out` do (checkAllRegex off).
 */

type Groups = Record<string, string | undefined>;

/** A connection's merged fields and flags, as _mergeFailure keeps them. Never changed in place. */
interface Connection {
  groups: Groups;
  /** Users the connection tried: more than one makes a "gained" connection still a failure. */
  users: readonly string[];
  /** A failure of the connection is waiting for its address. */
  pending: boolean;
}

export const ML_NO_MATCH = -1;
/** A failregex matched, but the line is no failure: `<F-NOFAIL>`/`<F-MLFGAINED>`, or still without an address. */
export const ML_NO_FAILURE = -2;
/** Below this: ignoreregex `ML_IGNORED_BASE - result` matched. */
export const ML_IGNORED_BASE = -3;

export interface MultiLineOptions {
  maxlines: number;
  /** Connections remembered at most (all origins together). */
  cacheSize: number;
  /** A connection not seen for this long is forgotten. */
  cacheAgeMs: number;
  /** Told how many connections or buffers the size bounds evicted. */
  onEvicted: (n: number) => void;
}

/** Origins (mail servers) whose line buffer is kept; far above any fleet. */
const MAX_ORIGINS = 4096;
/**
 * Characters the buffers, and the connections, of one filter hold at most
 * (each; about 32 MiB as UTF-16). Lines and fields are attacker-written and
 * up to MAX_TEXT long: without this a full cache of long user names, or
 * 4,096 buffers of long lines, would take gigabytes.
 */
const MAX_CHARS = 16 * 1024 * 1024;
/** Distinct users remembered per connection (fail2ban only asks whether there was more than one). */
const MAX_USERS = 8;
/** A server's buffer not added to for this long is dropped (its lines are stale). */
const BUFFER_AGE_MS = 3600_000;

export class MultiLine {
  readonly journal = new StateJournal();
  /** Merged groups of the failure found by the last `run` (valid until the next one). */
  groups: Groups = {};
  private readonly buffers: RecentMap<readonly string[]>;
  private readonly connections: RecentMap<Connection>;

  constructor(
    private readonly prefregex: CompiledRegex | undefined,
    private readonly failregex: readonly CompiledRegex[],
    private readonly ignoreregex: readonly CompiledRegex[],
    private readonly opts: MultiLineOptions,
  ) {
    this.buffers = new RecentMap(MAX_ORIGINS, BUFFER_AGE_MS, this.journal, opts.onEvicted, weighLines, MAX_CHARS);
    this.connections = new RecentMap(opts.cacheSize, opts.cacheAgeMs, this.journal, opts.onEvicted, weighConnection, MAX_CHARS);
  }

  /** Changes of a finished guarded attempt stay; evictions it made are counted now. */
  commit(): void {
    const n = this.journal.commit();
    if (n > 0) this.opts.onEvicted(n);
  }

  /**
   * One line (date cut out) of `origin` at `now` (the clock that ages the
   * state). Returns the index of the failregex that found a failure (its
   * merged groups in `this.groups`), ML_NO_MATCH, ML_NO_FAILURE, or
   * ML_IGNORED_BASE - j for ignoreregex j. `hits` counts the failregexes
   * and ignoreregexes that matched, for the regex tester.
   */
  run(origin: string, text: string, now: number, hits?: { failregex: number[]; ignoreregex: number[] }): number {
    const maxlines = this.opts.maxlines;
    let org: readonly string[];
    if (maxlines > 1) {
      const prev = this.buffers.get(origin, now) ?? [];
      org = prev.length >= maxlines ? [...prev.slice(prev.length - maxlines + 1), text] : [...prev, text];
      this.buffers.set(origin, org, now);
    } else {
      org = [text];
    }
    // fail2ban joins the buffer with "\n" and ends it with one; a single line is matched as it is.
    let buf = maxlines > 1 ? joinLines(org) : text;
    const ignore = this.ignoreregex;
    if (ignore.length > 0 && ignore.length < this.failregex.length - 2) {
      const j = firstMatch(ignore, buf);
      if (j !== -1) {
        if (hits) hits.ignoreregex[j]!++;
        return ML_IGNORED_BASE - j;
      }
    }
    let pre: Groups | undefined;
    if (this.prefregex) {
      const m = this.prefregex.re.exec(buf);
      if (!m) return ML_NO_MATCH;
      pre = m.groups;
      const content = pre?.content;
      if (content) {
        // The failregexes see the content only, and so does the buffer from now on (as in fail2ban).
        buf = maxlines > 1 ? `${content}\n` : content;
        if (maxlines > 1) this.buffers.set(origin, [content], now);
      }
    }
    for (let i = 0; i < this.failregex.length; i++) {
      const m = this.failregex[i]!.re.exec(buf);
      if (!m) continue;
      if (hits) {
        hits.failregex[i]!++;
        for (let k = i + 1; k < this.failregex.length; k++) if (this.failregex[k]!.re.test(buf)) hits.failregex[k]!++;
      }
      const lines = maxlines > 1 ? splitMatch(buf, m, org) : undefined;
      if (ignore.length > 0) {
        const matchedText = lines ? joinLines(lines.matched) : buf;
        const j = firstMatch(ignore, matchedText);
        if (j !== -1) {
          if (hits) hits.ignoreregex[j]!++;
          if (lines) this.buffers.set(origin, lines.unmatched, now);
          return ML_IGNORED_BASE - j;
        }
      }
      if (lines) this.buffers.set(origin, lines.unmatched, now);
      let fail = combine(pre, m.groups);
      const mlfid = fail.mlfid;
      if (mlfid !== undefined) {
        const merged = this.merge(`${origin}\u0000${mlfid}`, fail, now);
        if (merged === null) return ML_NO_FAILURE;
        fail = merged.groups;
        if (fail.ip4 === undefined && fail.ip6 === undefined && fail.dns === undefined && fail.fid === undefined) {
          // No address yet: the failure waits for a later line of the connection.
          merged.markPending();
          return ML_NO_FAILURE;
        }
      } else if (fail.nofail) {
        return ML_NO_FAILURE;
      }
      this.groups = fail;
      return i;
    }
    return ML_NO_MATCH;
  }

  /**
   * _mergeFailure: fold this line's groups into its connection. Returns
   * null when the line is no failure (nofail, gained), else the merged
   * groups and a way to mark the connection's failure pending.
   */
  private merge(key: string, fail: Groups, now: number): { groups: Groups; markPending: () => void } | null {
    // Flags count when they captured text, as in fail2ban (an empty group is false there).
    const gained = !!fail.mlfgained;
    let nofail = gained || !!fail.nofail;
    const forget = !!fail.mlfforget;
    const prev = this.connections.get(key, now);
    const user = fail.user;
    let users: readonly string[] = [];
    let pending = false;
    const groups: Groups = {};
    if (prev !== undefined) {
      users = prev.users;
      // gained forgets the failures still waiting for an address (the users stay, to be checked below).
      pending = gained ? false : prev.pending;
      const pg = prev.groups;
      for (const k in pg) groups[k] = pg[k];
    }
    // Only "more than one" matters: a connection trying a million user names keeps a few.
    if (user && users.length < MAX_USERS && !users.includes(user)) users = [...users, user];
    for (const k in fail) if (fail[k] !== undefined) groups[k] = fail[k];
    delete groups.nofail;
    delete groups.mlfgained;
    delete groups.mlfforget;
    // A failure was waiting, or several users were tried: a failure, whatever this line says.
    if (pending || users.length > 1) nofail = false;
    const conn: Connection = { groups, users, pending: false };
    // A connection's first line that forgets it is never remembered (fail2ban: no entry, nothing to unset).
    if (forget) this.connections.delete(key);
    else this.connections.set(key, conn, now);
    if (nofail) return null;
    return {
      groups,
      markPending: () => {
        if (!forget) this.connections.set(key, { ...conn, pending: true }, now);
      },
    };
  }
}

/**
 * The groups of a match as one plain object (built, not spread: the match's
 * own groups object is slow to copy): the prefregex's, then the
 * failregex's over them (a failregex group that did not take part hides the
 * prefregex's, as Python's dict.update with None does), then fail2ban's
 * alternate names: `alt_user_1` gives `user` its value when `user` has none
 * (so the users a connection tried are counted).
 */
function combine(pre: Groups | undefined, g: Groups | undefined): Groups {
  const out: Groups = {};
  if (pre !== undefined) {
    for (const k in pre) {
      const v = pre[k];
      if (v !== undefined) out[k] = v;
    }
  }
  let alt = false;
  if (g !== undefined) {
    for (const k in g) {
      const v = g[k];
      if (v !== undefined) out[k] = v;
      else if (pre !== undefined && out[k] !== undefined) out[k] = undefined;
      if (k.charCodeAt(0) === 97 /* a */ && k.startsWith('alt_')) alt = true;
    }
  }
  if (alt) {
    for (const k in out) {
      if (!k.startsWith('alt_')) continue;
      const v = out[k];
      const name = k.slice(4).replace(/_\d+$/, '');
      if (v && !out[name]) out[name] = v;
    }
  }
  return out;
}

function weighLines(lines: readonly string[]): number {
  let n = 0;
  for (const l of lines) n += l.length + 16;
  return n;
}

function weighConnection(c: Connection): number {
  let n = 64;
  const g = c.groups;
  for (const k in g) n += k.length + (g[k]?.length ?? 0) + 16;
  for (const u of c.users) n += u.length + 16;
  return n;
}

/** Python's str.splitlines(): every line break Python knows, no empty last piece. */
function splitLines(s: string): string[] {
  if (s === '') return [];
  const parts = s.split(/\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/);
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

function joinLines(lines: readonly string[]): string {
  return `${lines.join('\n')}\n`;
}

function firstMatch(list: readonly CompiledRegex[], text: string): number {
  for (let i = 0; i < list.length; i++) if (list[i]!.re.test(text)) return i;
  return -1;
}

function countNewlines(s: string, end: number): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i !== -1 && i < end; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * The buffer's lines a match covers, and the others (fail2ban's
 * Regex.search): whole lines from the one where the match starts to the
 * one where it ends, except those a `<SKIPLINES>` passed over, which stay
 * in the buffer with the lines outside the match.
 */
function splitMatch(buf: string, m: RegExpExecArray, org: readonly string[]): { matched: string[]; unmatched: string[] } {
  const start = m.index;
  const end = start + m[0].length;
  const lineStart = buf.lastIndexOf('\n', start) + 1;
  const nl = buf.indexOf('\n', Math.max(0, end - 1));
  const lineEnd = nl === -1 ? buf.length : nl + 1;
  const first = countNewlines(buf, lineStart);
  const last = countNewlines(buf, lineEnd);
  const matched = org.slice(first, last);
  const unmatched = org.slice(0, first);
  const g = m.groups;
  if (g !== undefined) {
    let skipped = '';
    for (let n = 0; `skiplines${n}` in g; n++) skipped += g[`skiplines${n}`] ?? '';
    let from = 0;
    for (const line of splitLines(skipped)) {
      const at = matched.indexOf(line, from);
      if (at === -1) continue;
      unmatched.push(matched.splice(at, 1)[0]!);
      from = at;
    }
  }
  unmatched.push(...org.slice(last));
  return { matched, unmatched };
}
