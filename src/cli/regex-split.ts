import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type Filter, loadFilter, type RegexCounters } from '../filters/filter.js';
import { type ScanCounts, scanLogFile } from '../filters/log-scan.js';
import { type HitList, HitTable, type JsonHit } from './hit-table.js';

/**
 * `fleetban regex` on a large file, on every core.
 *
 * A line's result depends only on that line and the filter (for filters of
 * one line: `maxlines = 1`), so the file is cut into byte ranges at line
 * ends and each range is scanned by a thread of its own, the main thread
 * taking the first. Each thread loads the filter itself (a compiled filter
 * cannot cross threads), counts the lines before its range (a native byte
 * search, far cheaper than matching them) so its line numbers are the
 * file's, and hands back its counts, its first few failures and the JSON
 * text of all of them: printing 100,000 failures costs as much as finding
 * them, so that is done on every core too. The main thread writes the parts
 * in file order: the output is the one a single thread prints.
 *
 * Multi-line filters (`maxlines > 1`, `<F-MLFID>` connections: Filter.stateful)
 * carry lines over from one line to the next and stay on one thread.
 */

/** Below this a file is scanned on one thread: starting a thread costs more than it saves. */
const MIN_SPLIT_BYTES = 8 * 1024 * 1024;

/** What one range's scan produced. */
export interface PartResult {
  counts: ScanCounts;
  counters: RegexCounters;
  /** Failures found in the range. */
  hitCount: number;
  /** The first few of them, for the human report. */
  firstHits: JsonHit[];
  /** The JSON text of all of them, comma-separated ('' without --json). */
  json: string;
  /** Lines of the range, empty and comment lines too. */
  physicalLines: number;
  /** The first missed lines (the file's line numbers), for the human report. */
  missed: Array<[number, string]>;
}

export interface PartJob {
  confDir: string;
  filter: string;
  path: string;
  start: number;
  end: number;
  /** One clock for every range, so dates without a year resolve alike. */
  now: number;
  /** How many missed lines and failures to keep as such (0 missed lines for --json). */
  keepMissed: number;
  keepHits: number;
  /** Print the JSON text of the failures. */
  json: boolean;
}

function emptyCounters(filter: Filter): RegexCounters {
  return { failregex: filter.failregex.map(() => 0), ignoreregex: filter.ignoreregex.map(() => 0), truncated: 0, noAddress: 0 };
}

/** Scan one range with `filter` (the thread's own), as the whole-file scan does. */
export function scanPart(filter: Filter, job: PartJob): PartResult {
  const counters = emptyCounters(filter);
  const hits = new HitTable();
  const missed: Array<[number, string]> = [];
  const before = job.start > 0 ? countLines(job.path, job.start) : 0;
  const counts = scanLogFile(
    job.path,
    filter,
    (lineNo, _line, r) => {
      if (r.kind === 'failure') hits.add(before + lineNo, r.match.ip, r.match.time, r.match.fields);
    },
    {
      now: job.now,
      counters,
      range: { start: job.start, end: job.end },
      onMissed:
        job.keepMissed > 0
          ? (lineNo, line) => {
              missed.push([before + lineNo, line]);
              return missed.length < job.keepMissed;
            }
          : undefined,
    },
  );
  const firstHits: JsonHit[] = [];
  for (let i = 0; i < Math.min(job.keepHits, hits.length); i++) firstHits.push(hits.get(i));
  return {
    counts,
    counters,
    hitCount: hits.length,
    firstHits,
    json: job.json ? [...hits.jsonChunks()].filter((c) => c !== '').join(',') : '',
    physicalLines: counts.physicalLines ?? 0,
    missed,
  };
}

/** Lines ("\n") in the first `end` bytes of the file. */
function countLines(path: string, end: number): number {
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
  let n = 0;
  try {
    for (let pos = 0; pos < end; ) {
      const got = readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
      if (got <= 0) break;
      pos += got;
      const b = got === buf.length ? buf : buf.subarray(0, got);
      for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++;
    }
  } finally {
    closeSync(fd);
  }
  return n;
}

/** The failures of a split scan: the parts' in file order. */
class PartHits implements HitList {
  readonly length: number;
  constructor(private readonly parts: readonly PartResult[]) {
    this.length = parts.reduce((a, p) => a + p.hitCount, 0);
  }
  get(i: number): JsonHit {
    for (const p of this.parts) {
      if (i < p.hitCount) {
        const h = p.firstHits[i];
        if (!h) throw new Error(`hit ${i} of a part was not kept`);
        return h;
      }
      i -= p.hitCount;
    }
    throw new RangeError(`no hit ${i}`);
  }
  jsonChunks(): Iterable<string> {
    return this.parts.map((p) => p.json);
  }
}

/** Threads to use for a file of `size` bytes: FLEETBAN_REGEX_THREADS if set, else one per core for large files. */
export function threadsFor(size: number, filter: Filter): number {
  if (filter.stateful) return 1;
  const forced = Number(process.env.FLEETBAN_REGEX_THREADS);
  if (Number.isInteger(forced) && forced >= 1) return Math.min(forced, 64);
  if (size < MIN_SPLIT_BYTES) return 1;
  return Math.max(1, Math.min(availableParallelism(), Math.floor(size / (MIN_SPLIT_BYTES / 2))));
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
      let at = Math.max(Math.floor((size * k) / n), cuts[cuts.length - 1]!);
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
      at = cut;
    }
  } finally {
    closeSync(fd);
  }
  cuts.push(size);
  return cuts;
}

/**
 * A thread running regex-worker. Built, that is the .js beside this file;
 * from the sources under tsx (the tests) it is the .ts, and a worker's
 * entry does not go through the loader the process was started with on
 * Node 20, so the thread registers tsx itself before importing it.
 */
function startWorker(job: PartJob): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./regex-worker.js', import.meta.url), { workerData: job });
  const entry = new URL('./regex-worker.ts', import.meta.url).href;
  const code = `import('tsx/esm/api').then((m) => m.register()).then(() => import(${JSON.stringify(entry)}))`;
  return new Worker(code, { eval: true, workerData: job });
}

function runWorker(job: PartJob): Promise<PartResult> {
  return new Promise((resolve, reject) => {
    const w = startWorker(job);
    w.once('message', (r: PartResult) => resolve(r));
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`regex worker exited with ${code} before answering`)));
  });
}

/**
 * Scan `path` with `filter` on `threads` threads; the result is the one of
 * scanning the whole file on one, ranges put back in order. A thread that
 * fails has its range scanned again here.
 */
export async function scanSplit(
  filter: Filter,
  job: Omit<PartJob, 'start' | 'end'>,
  threads: number,
): Promise<{ counts: ScanCounts; counters: RegexCounters; hits: HitList; missed: Array<[number, string]>; threads: number }> {
  const size = statSync(job.path).size;
  const cuts = cutPoints(job.path, size, threads);
  const parts = cuts.slice(0, -1).map((start, i) => ({ ...job, start, end: cuts[i + 1]! }));
  // The other threads start first; the main thread scans the first range meanwhile.
  let answered = parts.length;
  const others = parts.slice(1).map((p) =>
    runWorker(p).catch(() => {
      answered--;
      return scanPart(loadFilter(p.confDir, p.filter), p);
    }),
  );
  const results = [scanPart(filter, parts[0]!), ...(await Promise.all(others))];

  const counts: ScanCounts = { lines: 0, matched: 0, ignored: 0, missed: 0, invalidUtf8: 0, nulBytes: 0, truncated: 0, tooSlow: 0 };
  const counters = emptyCounters(filter);
  const missed: Array<[number, string]> = [];
  let lines = 0;
  for (const r of results) {
    addNumbers(counts, r.counts);
    addNumbers(counters, r.counters);
    r.counters.failregex.forEach((n, i) => (counters.failregex[i]! += n));
    r.counters.ignoreregex.forEach((n, i) => (counters.ignoreregex[i]! += n));
    for (const m of r.missed) if (missed.length < job.keepMissed) missed.push(m);
    lines += r.physicalLines;
  }
  counts.physicalLines = lines;
  return { counts, counters, hits: new PartHits(results), missed, threads: answered };
}
