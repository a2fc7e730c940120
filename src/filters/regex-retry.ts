import type { Worker } from 'node:worker_threads';
import type { FilterDefinition } from '../config/filter-reader.js';
import type { LogEvent } from '../model/log-event.js';
import type { FilterResult } from './filter.js';
import { startWorkerThread } from './worker-thread.js';

/**
 * The retry worker: one thread that matches, off the service's hot path,
 * the events whose batch time limit stopped them (regex-guard.ts), with a
 * budget of its own thread's CPU time far above what any real line needs.
 * A legitimate line the hot path cut because the host was busy is matched
 * here and its failure delivered late; a line crafted to backtrack uses up
 * the budget here, where it delays nothing but other retries.
 *
 * API: `retryOffThread(filter, event)` -> a promise of the answer, or null
 * when `MAX_PENDING` events already wait (the caller counts the event as
 * too slow). The worker compiles each filter once, from its definitions,
 * and exits with the process (it never keeps it alive).
 */

/** What the worker answers for one event. */
export interface RetryAnswer {
  /** Undefined: the budget ran out (too slow even here). */
  result?: FilterResult;
  /** The event was longer than MAX_TEXT (the hot path's count of it was thrown away with the attempt). */
  tooLong?: Record<string, unknown>;
  /** The event named an address two ways (see vchkpw-address.ts). */
  ambiguous?: { candidates: string[]; line: string };
  /** A failregex matched a host name, not an address (counted in the service's losses.hostName). */
  hostName?: boolean;
}

/** What retryOffThread needs of a Filter. */
export interface RetryableFilter {
  readonly id: number;
  readonly definition: FilterDefinition;
  readonly eventDefinition: FilterDefinition;
}

/** The message to the worker. `defs` comes with a filter's first event. */
export interface RetryRequest {
  id: number;
  filter: number;
  defs?: [FilterDefinition, FilterDefinition];
  event: LogEvent;
}

export interface RetryReply {
  id: number;
  answer?: RetryAnswer;
  error?: string;
}

/** Events waiting for the worker, at most: a flood of crafted lines must not grow memory. */
export const MAX_PENDING = 1000;

class RegexRetry {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve: (a: RetryAnswer) => void; reject: (e: Error) => void }>();
  private readonly known = new Set<number>();
  private nextId = 1;

  submit(f: RetryableFilter, event: LogEvent): Promise<RetryAnswer> | null {
    if (this.pending.size >= MAX_PENDING) return null;
    const w = this.start();
    const id = this.nextId++;
    const req: RetryRequest = { id, filter: f.id, event };
    if (!this.known.has(f.id)) {
      req.defs = [f.definition, f.eventDefinition];
      this.known.add(f.id);
    }
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) w.ref();
      w.postMessage(req);
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = startWorkerThread('regex-retry-worker', import.meta.url);
    w.unref();
    w.on('message', (m: RetryReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.answer) p.resolve(m.answer);
      else p.reject(new Error(m.error ?? 'no answer'));
    });
    const fail = (err: Error) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      this.known.clear();
      const waiting = [...this.pending.values()];
      this.pending.clear();
      for (const p of waiting) p.reject(err);
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`regex retry worker exited with ${code}`)));
    this.worker = w;
    return w;
  }
}

let shared: RegexRetry | undefined;

/** Match `event` with `filter` in the retry worker (see above); null when too many wait already. */
export function retryOffThread(filter: RetryableFilter, event: LogEvent): Promise<RetryAnswer> | null {
  shared ??= new RegexRetry();
  return shared.submit(filter, event);
}
