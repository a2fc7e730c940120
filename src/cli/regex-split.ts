import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { FilterDefinition } from '../config/filter-reader.js';
import { type Filter, loadFilter, type RegexCounters } from '../filters/filter.js';
import { type ScanCounts, scanLogFile } from '../filters/log-scan.js';
import { startWorkerThread } from '../filters/worker-thread.js';
import { type HitList, HitTable, type JsonHit } from './hit-table.js';

/**
 * `fleetban regex` on a large file, on every core.
 *
 * A line's result depends only on that line and the filter (for filters of
 * one line), so the file is cut at line ends into many ranges, a few per
 * thread, and the threads take the next range as they finish the last: the
 * main thread starts at once, the worker threads as soon as they have
 * booted and loaded the filter themselves (a compiled filter cannot cross
 * threads), and a thread that gets less of the CPU (a busy machine) simply
 * takes fewer ranges. Nothing is waited for but the last range.
 *
 * Line numbers are the file's: a range is scanned with its own line numbers
 * from 1, and once every range has said how many lines it held, each thread
 * prints the JSON text of its own ranges' failures with the lines before
 * them added (printing 100,000 failures costs about as much as finding
 * them, so that runs on every core too). The main thread writes the ranges
 * in file order: the output is the one a single thread prints.
 *
 * Multi-line filters (maxlines > 1, or the mlfid tags that tie lines
 * together) carry state from one line to the next and stay on one thread.
 */

/** Below this a file is scanned on one thread: starting a thread costs more than it saves. */
const MIN_SPLIT_BYTES = 8 * 1024 * 1024;
/** Ranges per thread: enough that a late or slow thread leaves little for the others to wait for. */
const RANGES_PER_THREAD = 8;
/** ... but not so small that handing them out costs more than scanning them. */
const MIN_RANGE_BYTES = 64 * 1024;

/** Tags with which fail2ban ties several lines into one failure (multi-line filters). */
const MULTI_LINE_TAGS = ['<F-MLFID>', '<F-NOFAIL>', '<F-MLFGAINED>', '<F-MLFFORGET>'];

/** Whether a filter carries state from line to line, so its lines must be read in order by one reader. */
export function carriesLinesOver(def: FilterDefinition): boolean {
  if (def.maxlines > 1) return true;
  const regexes = [...def.failregex, ...def.ignoreregex, ...(def.prefregex ? [def.prefregex] : [])];
  return regexes.some((r) => MULTI_LINE_TAGS.some((t) => r.text.includes(t)));
}

/** What every thread of one scan is told once (the worker's workerData). */
export interface SplitJob {
  confDir: string;
  filter: string;
  path: string;
  /** One clock for every range, so dates without a year resolve alike. */
  now: number;
  /** How many missed lines and failures each range keeps as such (0 missed lines for --json). */
  keepMissed: number;
  keepHits: number;
  /** Print the JSON text of the failures. */
  json: boolean;
}

/** Bytes [start, end) of the file, cut at line ends; `index` is its place in the file. */
export interface Range {
  index: number;
  start: number;
  end: number;
}

/** What scanning one range found, line numbers counted from the range's first line. */
export interface RangeSummary {
  index: number;
  counts: ScanCounts;
  counters: RegexCounters;
  /** Failures found in the range. */
  hitCount: number;
  /** The first few of them, for the human report. */
  firstHits: JsonHit[];
  /** Lines of the range, empty and comment lines too. */
  physicalLines: number;
  /** The first missed lines, for the human report. */
  missed: Array<[number, string]>;
}

/** Messages between the main thread and a worker. */
export type ToWorker = { kind: 'scan'; range: Range } | { kind: 'idle' } | { kind: 'format'; before: Array<[number, number]> };
export type FromWorker = { kind: 'next' } | { kind: 'scanned'; summary: RangeSummary } | { kind: 'json'; parts: Array<[number, string]> };

function emptyCounters(filter: Filter): RegexCounters {
  return { failregex: filter.failregex.map(() => 0), ignoreregex: filter.ignoreregex.map(() => 0), truncated: 0, noAddress: 0 };
}

/** Scan one range with `filter` (the thread's own), as the whole-file scan does; its failures go into `hits`. */
export function scanRange(filter: Filter, job: SplitJob, range: Range, hits: HitTable): RangeSummary {
  const counters = emptyCounters(filter);
  const missed: Array<[number, string]> = [];
  const counts = scanLogFile(
    job.path,
    filter,
    (lineNo, _line, r) => {
      if (r.kind === 'failure') hits.add(lineNo, r.match.ip, r.match.time, r.match.fields);
    },
    {
      now: job.now,
      counters,
      range: { start: range.start, end: range.end },
      onMissed:
        job.keepMissed > 0
          ? (lineNo, line) => {
              missed.push([lineNo, line]);
              return missed.length < job.keepMissed;
            }
          : undefined,
    },
  );
  const firstHits: JsonHit[] = [];
  for (let i = 0; i < Math.min(job.keepHits, hits.length); i++) firstHits.push(hits.get(i));
  return { index: range.index, counts, counters, hitCount: hits.length, firstHits, physicalLines: counts.physicalLines ?? 0, missed };
}

/** The JSON text of a range's failures, its line numbers moved to the file's. */
export function rangeJson(hits: HitTable, before: number): string {
  return [...hits.jsonChunks(8192, before)].filter((c) => c !== '').join(',');
}

/** The failures of a split scan: the ranges' in file order. */
class RangeHits implements HitList {
  readonly length: number;
  constructor(
    private readonly ranges: readonly RangeSummary[],
    private readonly json: readonly string[],
  ) {
    this.length = ranges.reduce((a, p) => a + p.hitCount, 0);
  }
  get(i: number): JsonHit {
    for (const p of this.ranges) {
      if (i < p.hitCount) {
        const h = p.firstHits[i];
        if (!h) throw new Error(`hit ${i} of a range was not kept`);
        return h;
      }
      i -= p.hitCount;
    }
    throw new RangeError(`no hit ${i}`);
  }
  jsonChunks(): Iterable<string> {
    return this.json;
  }
}

/**
 * Threads to use for a file of `size` bytes: FLEETBAN_REGEX_THREADS if set,
 * else one per core for a large file of a one-line filter.
 */
export function threadsFor(size: number, filter: Filter): number {
  // Filter.stateful says the same from the compiled filter; the definition decides it without one.
  if (filter.stateful || carriesLinesOver(filter.definition)) return 1;
  const forced = forcedThreads();
  if (forced !== undefined) return forced;
  if (size < MIN_SPLIT_BYTES) return 1;
  return Math.max(1, Math.min(availableParallelism(), Math.floor(size / (MIN_SPLIT_BYTES / 2))));
}

/** FLEETBAN_REGEX_THREADS: a thread count forced for tests and diagnostics. */
function forcedThreads(): number | undefined {
  const forced = Number(process.env.FLEETBAN_REGEX_THREADS);
  return Number.isInteger(forced) && forced >= 1 ? Math.min(forced, 64) : undefined;
}

/** Adds every number of `from` into `to` (counts a later version may add are summed too). */
function addNumbers<T extends object>(to: T, from: T): void {
  const t = to as Record<string, unknown>;
  for (const [k, v] of Object.entries(from)) if (typeof v === 'number') t[k] = ((t[k] as number | undefined) ?? 0) + v;
}

/** Byte offsets cutting the file into about `n` equal ranges, each cut just after a "\n". */
export function cutPoints(path: string, size: number, n: number): number[] {
  const cuts = [0];
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(64 * 1024);
  try {
    for (let k = 1; k < n; k++) {
      const at = Math.max(Math.floor((size * k) / n), cuts[cuts.length - 1]!);
      // Find the next "\n" at or after `at - 1`: the cut goes just after it.
      let cut = -1;
      for (let p = Math.max(0, at - 1); p < size && cut === -1; p += buf.length) {
        const got = readSync(fd, buf, 0, buf.length, p);
        if (got <= 0) break;
        const nl = buf.subarray(0, got).indexOf(10);
        if (nl !== -1) cut = p + nl + 1;
      }
      if (cut === -1 || cut >= size) break;
      if (cut > cuts[cuts.length - 1]!) cuts.push(cut);
    }
  } finally {
    closeSync(fd);
  }
  cuts.push(size);
  return cuts;
}

/** A thread running regex-worker (see worker-thread.ts for the sources under tsx). */
function startWorker(job: SplitJob): Worker {
  return startWorkerThread('regex-worker', import.meta.url, { workerData: job });
}

/** Let the workers' messages in between two ranges of the main thread. */
const yieldToWorkers = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Scan `path` with `filter` on `threads` threads; the result is the one of
 * scanning the whole file on one, ranges put back in order. The ranges of a
 * worker that fails are scanned again here.
 */
export async function scanSplit(
  filter: Filter,
  job: SplitJob,
  threads: number,
): Promise<{ counts: ScanCounts; counters: RegexCounters; hits: HitList; missed: Array<[number, string]>; threads: number }> {
  // The workers boot while the file is cut and the main thread scans.
  const workers = Array.from({ length: threads - 1 }, () => startWorker(job));
  const size = statSync(job.path).size;
  const wanted = Math.max(threads, Math.min(threads * RANGES_PER_THREAD, Math.floor(size / MIN_RANGE_BYTES)));
  const cuts = cutPoints(job.path, size, wanted);
  const ranges: Range[] = cuts.slice(0, -1).map((start, index) => ({ index, start, end: cuts[index + 1]! }));
  const summaries: (RangeSummary | undefined)[] = ranges.map(() => undefined);
  const json: string[] = ranges.map(() => '');
  const mine = new Map<number, HitTable>();
  // Forced (FLEETBAN_REGEX_THREADS, the tests): each thread's first range is its own, so every thread scans.
  const reserved = forcedThreads() !== undefined ? Array.from({ length: threads }, (_, k) => ranges[Math.floor((k * ranges.length) / threads)]!) : [];
  const queue = ranges.filter((r) => !reserved.includes(r));
  let next = 0;
  const take = (own?: Range): Range | undefined => own ?? queue[next++];
  let answered = threads;

  const scanHere = (r: Range) => {
    const hits = new HitTable();
    mine.set(r.index, hits);
    summaries[r.index] = scanRange(filter, job, r, hits);
  };

  // Each worker pulls ranges until none are left, then waits to print its failures' JSON.
  type Run = { worker: Worker; owned: number[]; failed: boolean; scanned: Promise<void>; formatted?: Promise<void> };
  const runs: Run[] = workers.map((worker, k) => {
    let own: Range | undefined = reserved[k + 1];
    const run: Run = { worker, owned: [], failed: false, scanned: Promise.resolve() };
    run.scanned = new Promise<void>((resolve) => {
      // Lost before it had scanned all it took: counted, and its ranges scanned again below.
      let idle = false;
      const fail = () => {
        if (run.failed || idle) return;
        run.failed = true;
        answered--;
        resolve();
      };
      worker.on('error', fail);
      worker.on('exit', fail);
      worker.on('message', (m: FromWorker) => {
        if (m.kind === 'scanned') summaries[m.summary.index] = m.summary;
        if (m.kind === 'next' || m.kind === 'scanned') {
          const r = take(own);
          own = undefined;
          if (r) {
            run.owned.push(r.index);
            worker.postMessage({ kind: 'scan', range: r } satisfies ToWorker);
          } else {
            worker.postMessage({ kind: 'idle' } satisfies ToWorker);
            idle = true;
            resolve();
          }
        }
      });
    });
    return run;
  });

  for (let r = take(reserved[0]); r; r = take()) {
    scanHere(r);
    await yieldToWorkers();
  }
  await Promise.all(runs.map((run) => run.scanned));
  // A worker that failed: its ranges again, here (their results, if any came, are replaced).
  for (const run of runs) if (run.failed) for (const i of run.owned) scanHere(ranges[i]!);
  // A range reserved for a worker lost before it asked for it.
  for (const r of ranges) if (!summaries[r.index]) scanHere(r);

  const before: number[] = [];
  let lines = 0;
  for (const s of summaries) {
    before.push(lines);
    lines += s!.physicalLines;
  }

  if (job.json) {
    const live = runs.filter((run) => !run.failed);
    for (const run of live) {
      run.formatted = new Promise<void>((resolve) => {
        run.worker.on('message', (m: FromWorker) => {
          if (m.kind !== 'json') return;
          for (const [i, text] of m.parts) json[i] = text;
          resolve();
        });
        // A worker lost now: its ranges are scanned again here below.
        run.worker.on('exit', () => resolve());
        run.worker.postMessage({ kind: 'format', before: run.owned.map((i) => [i, before[i]!]) } satisfies ToWorker);
      });
    }
    for (const [i, hits] of mine) json[i] = rangeJson(hits, before[i]!);
    await Promise.all(live.map((run) => run.formatted));
    for (const run of live) {
      for (const i of run.owned) {
        if (mine.has(i) || json[i] !== '' || summaries[i]!.hitCount === 0) continue;
        scanHere(ranges[i]!);
        json[i] = rangeJson(mine.get(i)!, before[i]!);
      }
    }
  }
  for (const w of workers) void w.terminate();

  const counts: ScanCounts = { lines: 0, matched: 0, ignored: 0, missed: 0, invalidUtf8: 0, nulBytes: 0, truncated: 0, tooSlow: 0 };
  const counters = emptyCounters(filter);
  const missed: Array<[number, string]> = [];
  const parts: RangeSummary[] = [];
  summaries.forEach((s, i) => {
    const r = s!;
    addNumbers(counts, r.counts);
    addNumbers(counters, r.counters);
    r.counters.failregex.forEach((n, k) => (counters.failregex[k]! += n));
    r.counters.ignoreregex.forEach((n, k) => (counters.ignoreregex[k]! += n));
    for (const [n, line] of r.missed) if (missed.length < job.keepMissed) missed.push([before[i]! + n, line]);
    parts.push({ ...r, firstHits: r.firstHits.map((h) => ({ ...h, line: h.line + before[i]! })) });
  });
  counts.physicalLines = lines;
  return { counts, counters, hits: new RangeHits(parts, json), missed, threads: answered };
}
