import type { Logger } from 'pino';
import type { EventSink } from '../model/event-sink.js';
import type { LogEvent } from '../model/log-event.js';

export type MatchResult<M> = { kind: 'failure'; match: M } | { kind: 'ignored'; regex?: number } | { kind: 'missed' };

/**
 * What the pipeline needs of a compiled filter (src/filters/filter.ts):
 * matching a batch at once, under the filter's time limit, so that a line
 * crafted to make a regex backtrack is cut short instead of stalling the
 * service.
 */
export interface EventMatcher<M> {
  matchEvents(evs: readonly LogEvent[]): MatchResult<M>[];
}

/** A jail as the pipeline sees it: a name, the sources it reads, its filter. */
export interface PipelineJail<M> {
  name: string;
  filterName: string;
  /** Transports that feed this jail ("udp", "tcp", "tls", "journal"); null: all. */
  sources: ReadonlySet<string> | null;
  filter: EventMatcher<M>;
}

export interface PipelineStats {
  events: number;
  queued: number;
  /** Failures matched, by "jail\u0000filter". */
  failures: Map<string, number>;
  ignored: Map<string, number>;
}

const BATCH = 4096;

/**
 * The event sink every source feeds: a bounded queue in front of the
 * filters and jails. Events are matched in batches on later ticks, so a
 * source's I/O callback returns at once and a flood cannot starve the other
 * sources; when the queue is above `highWater`, `push` returns false and TCP,
 * TLS and the journal pause their readers until it drains below half.
 * UDP cannot pause; its events are still queued (up to `hardLimit`, past
 * which they are dropped and counted, never blocking).
 */
export class Pipeline<M> implements EventSink {
  private queue: LogEvent[] = [];
  private head = 0;
  private scheduled = false;
  private drainListeners: (() => void)[] = [];
  private above = false;
  /** Waiters of flush(), each with the count of events pushed when it asked. */
  private flushWaiters: { upTo: number; resolve: () => void }[] = [];
  /** Events ever pushed, and matched; flush() waits for the second to reach the first. */
  private pushed = 0;
  private matched = 0;
  readonly stats: PipelineStats = { events: 0, queued: 0, failures: new Map(), ignored: new Map() };
  dropped = 0;

  constructor(
    private jails: PipelineJail<M>[],
    private readonly onFailure: (jail: string, match: M, ev: LogEvent) => void,
    private readonly logger: Logger,
    private readonly highWater = 20_000,
    private readonly hardLimit = 1_000_000,
  ) {}

  /** Reload: later events go through the new jails; queued ones too. */
  setJails(jails: PipelineJail<M>[]): void {
    this.jails = jails;
  }

  push(ev: LogEvent): boolean {
    const depth = this.queue.length - this.head;
    if (depth >= this.hardLimit) {
      this.dropped++;
      return false;
    }
    this.queue.push(ev);
    this.pushed++;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
    if (depth + 1 >= this.highWater) this.above = true;
    return !this.above;
  }

  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  /**
   * Resolves once every event pushed so far has been matched, even while
   * more keep arriving (the journal saves its cursor after this).
   */
  flush(): Promise<void> {
    if (this.matched >= this.pushed) return Promise.resolve();
    const upTo = this.pushed;
    return new Promise((resolve) => this.flushWaiters.push({ upTo, resolve }));
  }

  get depth(): number {
    return this.queue.length - this.head;
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    const start = this.head;
    const end = Math.min(this.queue.length, this.head + BATCH);
    const batch = this.queue.slice(start, end);
    this.head = end;
    this.stats.events += batch.length;
    this.matchBatch(batch);
    this.matched += batch.length;
    // Compact once the consumed prefix dominates, so the array does not grow for ever.
    if (this.head > 65_536 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    const depth = this.queue.length - this.head;
    this.stats.queued = depth;
    if (this.above && depth <= this.highWater / 2) {
      this.above = false;
      for (const l of this.drainListeners) l();
    }
    if (this.flushWaiters.length > 0) {
      const due = this.flushWaiters.filter((w) => w.upTo <= this.matched);
      if (due.length > 0) {
        this.flushWaiters = this.flushWaiters.filter((w) => w.upTo > this.matched);
        for (const w of due) w.resolve();
      }
    }
    if (depth > 0) {
      this.scheduled = true;
      setImmediate(this.drain);
    } else {
      this.queue.length = 0;
      this.head = 0;
    }
  };

  /** Each jail sees, in order, the events of the batch from its sources. */
  private matchBatch(batch: LogEvent[]): void {
    for (const jail of this.jails) {
      const evs = jail.sources ? batch.filter((ev) => jail.sources!.has(ev.source)) : batch;
      if (evs.length === 0) continue;
      let results: MatchResult<M>[];
      try {
        results = jail.filter.matchEvents(evs);
      } catch (err) {
        // A filter must never take the service down; log and go on.
        this.logger.error({ jail: jail.name, err: (err as Error).message }, 'filter failed on a batch of events');
        continue;
      }
      const key = `${jail.name}\u0000${jail.filterName}`;
      for (let i = 0; i < results.length; i++) this.record(jail.name, key, results[i]!, evs[i]!);
    }
  }

  /**
   * The result of an event the filter's time limit cut and its retry worker
   * matched later (src/filters/regex-retry.ts): counted and handed to the
   * jail like any other.
   */
  deliverLate(jail: string, filterName: string, r: MatchResult<M>, ev: LogEvent): void {
    this.record(jail, `${jail}\u0000${filterName}`, r, ev);
  }

  private record(jail: string, key: string, r: MatchResult<M>, ev: LogEvent): void {
    if (r.kind === 'missed') return;
    if (r.kind === 'ignored') {
      this.stats.ignored.set(key, (this.stats.ignored.get(key) ?? 0) + 1);
      return;
    }
    this.stats.failures.set(key, (this.stats.failures.get(key) ?? 0) + 1);
    try {
      this.onFailure(jail, r.match, ev);
    } catch (err) {
      this.logger.error({ jail, err: (err as Error).message }, 'jail failed on a failure');
    }
  }
}
