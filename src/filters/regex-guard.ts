import { openSync, readSync } from 'node:fs';
import { createContext, Script } from 'node:vm';

/**
 * A time limit for regex matching, so no log line can hang fleetban, and
 * no legitimate line is lost to it on a busy host.
 *
 * Log lines are written by attackers, and some regexes backtrack
 * exponentially on crafted input. fail2ban's own filter.d/courier-auth.conf
 * is one: its `(?:user=...|\w+=...)` alternatives both match `user=`, so a
 * line `LOGIN FAILED, user=, user=, ...` with 28 pairs (under 200 bytes)
 * keeps fail2ban busy for more than a minute, and every further pair doubles
 * that. A length cap does not help against that; only stopping the match does.
 *
 * JavaScript cannot interrupt a running regex, except through V8's
 * termination, which Node offers as the `timeout` of `vm` scripts: a watchdog
 * thread stops whatever JavaScript runs, regexes included. Starting that
 * watchdog costs about 100-200 µs, far too much per line but nothing per
 * batch of thousands of lines. So lines are matched in batches under one
 * time limit; a batch that runs out of time is split in halves and retried,
 * down to the single line that is too slow.
 *
 * The watchdog counts wall-clock time, and on a loaded host a thread can be
 * kept off the CPU for longer than a batch's budget: that says nothing
 * about the line. So an attempt that ran out of time is judged by the CPU
 * time the process used meanwhile (a cheap upper bound of this thread's):
 * less than the budget means the thread waited, and the same batch is run
 * again. A single line that really used its budget is not dropped either:
 * the caller hands it to the retry worker (regex-retry.ts), which runs it
 * off the hot path with `RETRY_CPU_MS` of its own thread's CPU time
 * (`runWithCpuBudget`). Only a line that exhausts that is lost, and counted.
 * The compile of a regex is not charged to any line: Filter runs every
 * regex on sample text when it is built.
 *
 * A job must only compute: whatever it changed before it was stopped is
 * thrown away by the caller (results are collected per batch and applied
 * only when the batch finished).
 */

const context = createContext({ job: null as null | (() => void) });
const runner = new Script('job()', { filename: 'fleetban-regex-guard' });

/** Run `job` for at most `timeoutMs` of wall-clock time; false when it was stopped. */
export function runGuarded(job: () => void, timeoutMs: number): boolean {
  (context as { job: null | (() => void) }).job = job;
  try {
    runner.runInContext(context, { timeout: Math.max(1, Math.ceil(timeoutMs)) });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return false;
    throw err;
  } finally {
    (context as { job: null | (() => void) }).job = null;
  }
}

/** CPU time of the whole process in ms (every thread): cheap, an upper bound of one thread's. */
function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

let schedstat: number | null | undefined;
const statBuf = Buffer.alloc(96);

/**
 * CPU time this thread has run, in ms, from Linux's per-thread schedstat
 * (nanoseconds), or the process's CPU time where that is not available.
 * About 20 µs: for the retry path, not per line. (Node 20 has no
 * process.threadCpuUsage.)
 */
export function threadCpuMs(): number {
  if (schedstat === undefined) {
    try {
      schedstat = openSync('/proc/thread-self/schedstat', 'r');
    } catch {
      schedstat = null;
    }
  }
  if (schedstat !== null) {
    try {
      const n = readSync(schedstat, statBuf, 0, statBuf.length, 0);
      const ns = Number.parseInt(statBuf.toString('latin1', 0, n), 10);
      if (Number.isFinite(ns)) return ns / 1e6;
    } catch {
      schedstat = null;
    }
  }
  return processCpuMs();
}

/** CPU time a line may use in the retry worker: thousands of times what any real line needs. */
export const RETRY_CPU_MS = 500;

/**
 * Run `job` until it finishes or has used `cpuMs` of this thread's CPU time
 * in one attempt. The watchdog is wall-clock, so an attempt it stopped
 * before the thread had the CPU for `cpuMs` is run again, with a doubled
 * watchdog, until `maxWallMs` of waiting. For the retry worker and the
 * regex tester, never the service's hot path.
 */
export function runWithCpuBudget(job: () => void, cpuMs = RETRY_CPU_MS, maxWallMs = cpuMs * 30): boolean {
  let wall = cpuMs;
  const started = Date.now();
  for (;;) {
    const cpu0 = threadCpuMs();
    if (runGuarded(job, wall)) return true;
    const used = threadCpuMs() - cpu0;
    if (used >= cpuMs * 0.9) return false;
    if (Date.now() - started + wall * 2 > maxWallMs) return false;
    wall *= 2;
  }
}

/** Time allowed for matching n items: a fixed part plus a generous per-item part. */
export function budgetMs(n: number, perItemMs = 0.02, fixedMs = 25): number {
  return fixedMs + n * perItemMs;
}

/** Times one batch is run again after a timeout during which the process hardly had the CPU. */
const WAITED_RETRIES = 3;

/**
 * Match `items` with `match` under time limits, bisecting on timeouts.
 * `match(i)` computes the result of item i; results are delivered to
 * `apply(i, result)` in order, only for batches that finished in time.
 * An item that alone used its whole budget of CPU time is reported to
 * `tooSlow(i)`: the caller retries it with a long budget (the retry
 * worker) or counts it.
 */
export function matchGuarded<R>(
  count: number,
  match: (i: number) => R,
  apply: (i: number, r: R) => void,
  tooSlow: (i: number) => void,
  opts: {
    perItemMs?: number;
    fixedMs?: number;
    /** Called before each attempt (reset state the job accumulates). */
    attempt?: () => void;
    /** Called after an attempt that finished, before its results are applied. */
    commit?: () => void;
  } = {},
): void {
  const results: R[] = [];
  const run = (from: number, to: number): void => {
    const budget = budgetMs(to - from, opts.perItemMs, opts.fixedMs);
    for (let waited = 0; ; waited++) {
      results.length = 0;
      opts.attempt?.();
      const cpu0 = processCpuMs();
      const ok = runGuarded(() => {
        for (let i = from; i < to; i++) results.push(match(i));
      }, budget);
      if (ok) {
        opts.commit?.();
        for (let i = from; i < to; i++) apply(i, results[i - from]!);
        return;
      }
      // Stopped: did this batch have the CPU for its budget, or did it wait?
      if (processCpuMs() - cpu0 >= budget * 0.9 || waited >= WAITED_RETRIES) break;
    }
    if (to - from === 1) {
      tooSlow(from);
      return;
    }
    const mid = from + ((to - from) >> 1);
    run(from, mid);
    run(mid, to);
  };
  if (count > 0) run(0, count);
}
