import { createContext, Script } from 'node:vm';

/**
 * A time limit for regex matching, so no log line can hang fleetban.
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
 * down to the single line that is too slow, which is skipped and counted.
 *
 * A job must only compute: whatever it changed before it was stopped is
 * thrown away by the caller (results are collected per batch and applied
 * only when the batch finished).
 */

const context = createContext({ job: null as null | (() => void) });
const runner = new Script('job()', { filename: 'fleetban-regex-guard' });

/** Run `job` for at most `timeoutMs`; false when it was stopped. */
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

/** Time allowed for matching n items: a fixed part plus a generous per-item part. */
export function budgetMs(n: number, perItemMs = 0.02, fixedMs = 25): number {
  return fixedMs + n * perItemMs;
}

/**
 * Match `items` with `match` under time limits, bisecting on timeouts.
 * `match(i)` computes the result of item i; results are delivered to
 * `apply(i, result)` in order, only for batches that finished in time.
 * Items that alone exceed the limit are reported to `tooSlow(i)`.
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
    results.length = 0;
    opts.attempt?.();
    const ok = runGuarded(() => {
      for (let i = from; i < to; i++) results.push(match(i));
    }, budgetMs(to - from, opts.perItemMs, opts.fixedMs));
    if (ok) {
      opts.commit?.();
      for (let i = from; i < to; i++) apply(i, results[i - from]!);
      return;
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
