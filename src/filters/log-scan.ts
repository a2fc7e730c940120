import { closeSync, openSync, readSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import type { Filter, FilterResult, RegexCounters } from './filter.js';
import { matchGuarded } from './regex-guard.js';

/**
 * Reads a log file through a filter as fast as the disk allows: the way
 * `fleetban regex` (and any replay of a file) runs a filter over a file.
 *
 * The file is read in large chunks and never decoded as a whole. Lines are
 * found with a native byte search for "\n", and the filter's literal
 * pre-check (Filter.lineClauses) runs as a native byte search over the
 * chunk: for each literal, the position of its next occurrence is kept, so
 * a line that contains none of them costs one comparison and is never
 * turned into a string. Only candidate lines are decoded and matched.
 *
 * Lines as fail2ban-regex counts them: split on "\n", a trailing "\r"
 * removed, empty lines and lines starting with "#" skipped and not counted.
 * Bytes that are not UTF-8 are decoded as U+FFFD (the line is still
 * matched: an attacker must not escape a ban with one bad byte) and
 * counted. A line longer than MAX_LINE_BYTES is matched on its first
 * MAX_LINE_BYTES bytes and counted as truncated.
 */

export const CHUNK_BYTES = 4 * 1024 * 1024;
export const MAX_LINE_BYTES = 128 * 1024;

export interface ScanCounts {
  /** Lines tested (not empty, not comments). */
  lines: number;
  matched: number;
  ignored: number;
  missed: number;
  /** Lines with bytes that are not UTF-8 (decoded as U+FFFD, still matched). */
  invalidUtf8: number;
  /** Lines with NUL bytes (still matched). */
  nulBytes: number;
  /** Lines longer than MAX_LINE_BYTES (matched on their start). */
  truncated: number;
  /** Lines the regexes could not finish within the time limit (skipped, counted as missed). */
  tooSlow: number;
  /** Of a file scan: every line read, empty and comment lines too (what line numbers count). */
  physicalLines?: number;
}

/** Candidate lines matched together under one time limit (see regex-guard.ts). */
export const BATCH_LINES = 4096;

/**
 * Receives missed lines (the regex tester shows the first few). Returning
 * false says it wants no more: the scanner then stops turning missed lines
 * into strings, most of the work on a log that is mostly noise.
 */
export type MissedHandler = (lineNo: number, line: string) => boolean | void;

export type LineHandler = (lineNo: number, line: string, result: FilterResult) => void;

interface Needle {
  bytes: Buffer;
  /** Next occurrence at or after the current line start; -1: none left in the chunk; -2: not looked for yet. */
  at: number;
}

export interface ScanOptions {
  now?: number;
  counters?: RegexCounters;
  onMissed?: MissedHandler;
  /**
   * Only bytes [start, end) of the file, for a scan split across threads
   * (src/cli/regex.ts). `start` must be 0 or just after a "\n" and `end`
   * just after one or the file's size; line numbers then count from the
   * range's first line, and `physicalLines` says how many it held.
   */
  range?: { start: number; end: number };
}

/**
 * Run `filter` over every line of the file at `path`. `onResult` sees every
 * candidate line that was matched (failures, ignored lines, and missed lines
 * that passed the pre-check); `onSkipped` (if given) sees the other tested
 * lines, decoded, for tools that print missed lines. Returns the counts.
 */
export function scanLogFile(
  path: string,
  filter: Filter,
  onResult: LineHandler,
  opts: ScanOptions = {},
): ScanCounts {
  const fd = openSync(path, 'r');
  try {
    return scanFd(fd, filter, onResult, opts);
  } finally {
    closeSync(fd);
  }
}

function scanFd(fd: number, filter: Filter, onResult: LineHandler, opts: ScanOptions): ScanCounts {
  const counts: ScanCounts = { lines: 0, matched: 0, ignored: 0, missed: 0, invalidUtf8: 0, nulBytes: 0, truncated: 0, tooSlow: 0 };
  const now = opts.now ?? Date.now();
  const counters = opts.counters;
  let onMissed = opts.onMissed;
  const missed = (no: number, line: string) => {
    if (onMissed && onMissed(no, line) === false) onMissed = undefined;
  };
  const clauses: Needle[][] | null = filter.lineClauses
    ? filter.lineClauses.map((c) => c.map((s) => ({ bytes: Buffer.from(s, 'utf8'), at: 0 })))
    : null;
  const buf = Buffer.allocUnsafe(CHUNK_BYTES);
  let filled = 0;
  let lineNo = 0;
  let eof = false;
  // Where the next read starts, and where the range ends (the whole file: read on until a read returns 0).
  let pos = opts.range?.start ?? 0;
  const rangeEnd = opts.range?.end ?? Infinity;
  // Inside an over-long line whose start was already matched: skip to its end.
  let skipping = false;
  // Next NUL byte at or after the current line start (-1: none left in the chunk, -2: not looked yet).
  let nulAt = -2;

  const handle = (chunk: Buffer, s: number, e: number, valid: boolean) => {
    lineNo++;
    // fail2ban-regex strips "\r\n" and skips empty and comment lines.
    while (e > s && chunk[e - 1] === 13) e--;
    if (e === s || chunk[s] === 35 /* # */) return;
    counts.lines++;
    if (e - s > MAX_LINE_BYTES) {
      e = s + MAX_LINE_BYTES;
      counts.truncated++;
    }
    if (!valid && !isUtf8(chunk.subarray(s, e))) counts.invalidUtf8++;
    if (nulAt !== -1 && nulAt < s) nulAt = chunk.indexOf(0, s);
    if (nulAt !== -1 && nulAt < e) counts.nulBytes++;
    let candidate = true;
    if (clauses !== null) {
      for (let i = 0; i < clauses.length && candidate; i++) {
        const c = clauses[i]!;
        let hit = false;
        for (let j = 0; j < c.length; j++) {
          const n = c[j]!;
          if (n.at !== -1 && n.at < s) n.at = chunk.indexOf(n.bytes, s);
          if (n.at !== -1 && n.at + n.bytes.length <= e) {
            hit = true;
            break;
          }
        }
        candidate = hit;
      }
    }
    if (!candidate) {
      counts.missed++;
      if (onMissed) missed(lineNo, chunk.toString('utf8', s, e));
      return;
    }
    batchLines.push(utf8(chunk, s, e));
    batchNos.push(lineNo);
    if (batchLines.length >= BATCH_LINES) flush();
  };

  // Candidate lines wait here and are matched in batches under a time limit.
  const batchLines: string[] = [];
  const batchNos: number[] = [];
  const prechecked = clauses !== null;
  let attemptCounters: RegexCounters | undefined;
  const flush = () => {
    matchGuarded(
      batchLines.length,
      (i) => filter.matchLineCounting(batchLines[i]!, now, attemptCounters, prechecked),
      (i, r) => {
        if (r.kind === 'failure') counts.matched++;
        else if (r.kind === 'ignored') counts.ignored++;
        else {
          counts.missed++;
          missed(batchNos[i]!, batchLines[i]!);
        }
        onResult(batchNos[i]!, batchLines[i]!, r);
      },
      (i) => {
        // Cut by the batch's limit: once more alone, with the long budget (this is no service's hot path).
        const r = filter.matchLineLong(batchLines[i]!, now, counters, prechecked);
        if (r === undefined) {
          counts.tooSlow++;
          counts.missed++;
          missed(batchNos[i]!, batchLines[i]!);
          return;
        }
        if (r.kind === 'failure') counts.matched++;
        else if (r.kind === 'ignored') counts.ignored++;
        else {
          counts.missed++;
          missed(batchNos[i]!, batchLines[i]!);
        }
        onResult(batchNos[i]!, batchLines[i]!, r);
      },
      {
        attempt: () => {
          if (counters) attemptCounters = emptyCounters(counters);
          filter.beginAttempt();
        },
        commit: () => {
          filter.commitAttempt();
          if (counters && attemptCounters) addCounters(counters, attemptCounters);
        },
      },
    );
    batchLines.length = 0;
    batchNos.length = 0;
  };

  for (;;) {
    if (!eof && filled < buf.length) {
      const want = Math.min(buf.length - filled, rangeEnd - pos);
      const n = want > 0 ? readSync(fd, buf, filled, want, pos) : 0;
      if (n === 0) eof = true;
      pos += n;
      filled += n;
    }
    if (filled === 0) break;
    const chunk = buf.subarray(0, filled);
    let start = 0;
    if (skipping) {
      const nl = chunk.indexOf(10);
      if (nl === -1) {
        filled = 0;
        if (eof) break;
        continue;
      }
      start = nl + 1;
      skipping = false;
    }
    // The complete lines of [start, end); at the end of the file the last line needs no "\n".
    const lastNl = chunk.lastIndexOf(10);
    let end = lastNl < start ? start : lastNl + 1;
    if (eof) end = filled;
    if (end > start) {
      const valid = isUtf8(chunk.subarray(start, end));
      nulAt = -2;
      if (clauses !== null) for (const c of clauses) for (const n of c) n.at = -2;
      let s = start;
      while (s < end) {
        let nl = chunk.indexOf(10, s);
        if (nl === -1 || nl >= end) nl = end;
        handle(chunk, s, nl, valid);
        s = nl + 1;
      }
    } else if (filled === buf.length) {
      // One line fills the whole buffer: match its start, skip the rest of it.
      nulAt = -2;
      if (clauses !== null) for (const c of clauses) for (const n of c) n.at = -2;
      handle(chunk, start, filled, false);
      skipping = true;
      filled = 0;
      continue;
    }
    if (eof) break;
    // Keep the incomplete last line for the next read.
    const rest = filled - end;
    if (rest > 0 && end > 0) buf.copy(buf, 0, end, filled);
    filled = rest;
  }
  flush();
  counts.physicalLines = lineNo;
  return counts;
}

function emptyCounters(like: RegexCounters): RegexCounters {
  return { failregex: like.failregex.map(() => 0), ignoreregex: like.ignoreregex.map(() => 0), truncated: 0, noAddress: 0, ambiguous: 0 };
}

function addCounters(to: RegexCounters, from: RegexCounters): void {
  from.failregex.forEach((n, i) => (to.failregex[i]! += n));
  from.ignoreregex.forEach((n, i) => (to.ignoreregex[i]! += n));
  to.truncated += from.truncated;
  to.noAddress += from.noAddress;
  if (from.ambiguous) to.ambiguous = (to.ambiguous ?? 0) + from.ambiguous;
}

type Utf8Slicer = Buffer & { utf8Slice?: (start: number, end: number) => string };

/**
 * Decode bytes [s, e) as UTF-8. Buffer#utf8Slice skips the encoding lookup
 * Buffer#toString does on every call (measurable at 50,000 candidate lines);
 * toString is the fallback should a Node version lack it.
 */
function utf8(b: Utf8Slicer, s: number, e: number): string {
  return b.utf8Slice ? b.utf8Slice(s, e) : b.toString('utf8', s, e);
}

/** Run `filter` over lines given as text (a single line on the command line, or a test). */
export function scanText(
  text: string,
  filter: Filter,
  onResult: LineHandler,
  opts: { now?: number; counters?: RegexCounters; onMissed?: MissedHandler } = {},
): ScanCounts {
  const counts: ScanCounts = { lines: 0, matched: 0, ignored: 0, missed: 0, invalidUtf8: 0, nulBytes: 0, truncated: 0, tooSlow: 0 };
  const now = opts.now ?? Date.now();
  const lines: string[] = [];
  const nos: number[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/[\r\n]+$/, '');
    if (line === '' || line.startsWith('#')) return;
    counts.lines++;
    if (line.includes('\u0000')) counts.nulBytes++;
    lines.push(line);
    nos.push(i + 1);
  });
  const counters = opts.counters;
  let attemptCounters: RegexCounters | undefined;
  matchGuarded(
    lines.length,
    (i) => filter.matchLineCounting(lines[i]!, now, attemptCounters),
    (i, r) => {
      if (r.kind === 'failure') counts.matched++;
      else if (r.kind === 'ignored') counts.ignored++;
      else {
        counts.missed++;
        opts.onMissed?.(nos[i]!, lines[i]!);
      }
      onResult(nos[i]!, lines[i]!, r);
    },
    (i) => {
      const r = filter.matchLineLong(lines[i]!, now, counters);
      if (r === undefined) {
        counts.tooSlow++;
        counts.missed++;
        opts.onMissed?.(nos[i]!, lines[i]!);
        return;
      }
      if (r.kind === 'failure') counts.matched++;
      else if (r.kind === 'ignored') counts.ignored++;
      else {
        counts.missed++;
        opts.onMissed?.(nos[i]!, lines[i]!);
      }
      onResult(nos[i]!, lines[i]!, r);
    },
    {
      attempt: () => {
        if (counters) attemptCounters = emptyCounters(counters);
        filter.beginAttempt();
      },
      commit: () => {
        filter.commitAttempt();
        if (counters && attemptCounters) addCounters(counters, attemptCounters);
      },
    },
  );
  return counts;
}
