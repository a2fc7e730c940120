import type { Pool } from 'pg';

/**
 * One failure as it travels between nodes: [jail, ip, time, received,
 * origin, line, fields]. `time` is the filter's stamp (NaN is sent as null),
 * `received` the arrival at the node that saw it; the leader applies the
 * same window rules to it as to a failure of its own.
 */
export type WireFailure = [string, string, number | null, number, string, string, Record<string, string>];

export interface OutboxStats {
  /** Failures written to PostgreSQL since start. */
  forwarded: number;
  /** Failures waiting to be written. */
  backlog: number;
  /** Age of the oldest of them, ms (0 when none wait). */
  lagMs: number;
  /** Failures dropped because the backlog was full (the database was away too long). */
  dropped: number;
}

export interface FailureOutboxOptions {
  pool: Pool;
  node: string;
  /** Failures per batch row (default 5000: fewer round trips and commits per failure). */
  batchSize?: number;
  /**
   * Longest a failure waits for its batch to fill, ms (default 2). Batches
   * fill anyway while a write is under way (one at a time), so waiting
   * longer only adds latency.
   */
  lingerMs?: number;
  /** Most failures kept while the database is away (default 1,000,000). */
  maxBacklog?: number;
  onError?: (err: unknown) => void;
  onWritten?: () => void;
}

/**
 * Writes this node's failures to PostgreSQL in batches, one row per batch,
 * one batch at a time, so that this node's rows commit in the order of
 * their seq (the leader relies on it). While the database is away failures
 * wait here, up to maxBacklog, and are written when it is back.
 */
export class FailureOutbox {
  private queue: WireFailure[] = [];
  /** When the oldest waiting failure arrived (approximately, after a partial write). */
  private oldestAt = 0;
  private writing = false;
  private timer: NodeJS.Timeout | undefined;
  private retryMs = 0;
  private closed = false;
  private paused = false;
  /** The wait of the timer set (a shorter one replaces it, a longer one does not). */
  private timerWait = 0;
  private readonly batchSize: number;
  private readonly lingerMs: number;
  private readonly maxBacklog: number;
  private readonly idle: (() => void)[] = [];
  forwarded = 0;
  dropped = 0;

  constructor(private readonly o: FailureOutboxOptions) {
    this.batchSize = o.batchSize ?? 5000;
    this.lingerMs = o.lingerMs ?? 2;
    this.maxBacklog = o.maxBacklog ?? 1_000_000;
  }

  push(f: WireFailure): void {
    if (this.queue.length >= this.maxBacklog) {
      this.dropped++;
      return;
    }
    if (this.queue.length === 0) this.oldestAt = Date.now();
    this.queue.push(f);
    if (this.queue.length >= this.batchSize) this.kick(0);
    else this.kick(this.lingerMs);
  }

  stats(): OutboxStats {
    return {
      forwarded: this.forwarded,
      backlog: this.queue.length,
      lagMs: this.queue.length > 0 ? Date.now() - this.oldestAt : 0,
      dropped: this.dropped,
    };
  }

  /** Resolves once everything queued so far is written (or the outbox is closed). */
  drained(): Promise<void> {
    if (this.queue.length === 0 && !this.writing) return Promise.resolve();
    this.kick(0);
    return new Promise((r) => this.idle.push(r));
  }

  /**
   * Hold the writes (a node protecting its senders alone keeps its failures
   * until it has handed its bans over: written earlier, the leader would
   * ban those addresses a second time).
   */
  pause(): void {
    this.paused = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  resume(): void {
    this.paused = false;
    if (this.queue.length > 0) this.kick(0);
  }

  /** The failures waiting, oldest first. */
  waiting(): readonly WireFailure[] {
    return this.queue;
  }

  /** Forget the waiting failures `drop` says (those that led to a ban already handed over). */
  forget(drop: (f: WireFailure) => boolean): number {
    const before = this.queue.length;
    this.queue = this.queue.filter((f) => !drop(f));
    return before - this.queue.length;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const r of this.idle.splice(0)) r();
  }

  private kick(ms: number): void {
    if (this.writing || this.closed || this.paused) return;
    const wait = Math.max(ms, this.retryMs);
    if (this.timer) {
      if (wait >= this.timerWait) return;
      clearTimeout(this.timer);
    }
    this.timerWait = wait;
    this.timer = setTimeout(() => void this.write(), wait);
  }

  private async write(): Promise<void> {
    this.timer = undefined;
    if (this.writing || this.closed || this.paused) return;
    if (this.queue.length === 0) {
      for (const r of this.idle.splice(0)) r();
      return;
    }
    this.writing = true;
    const n = Math.min(this.batchSize, this.queue.length);
    const batch = this.queue.slice(0, n);
    let newest = 0;
    for (const f of batch) newest = Math.max(newest, f[2] ?? f[3], f[3]);
    try {
      await this.o.pool.query(
        `WITH b AS (INSERT INTO failures (node, seq, newest, count, events)
                    VALUES ($1, nextval('failure_seq'), $2, $3, $4::json) RETURNING seq)
         SELECT pg_notify('fleetban_failures', $1 || ':' || seq) FROM b`,
        [this.o.node, newest, n, JSON.stringify(batch)],
      );
      this.queue.splice(0, n);
      this.forwarded += n;
      this.retryMs = 0;
      this.o.onWritten?.();
    } catch (err) {
      this.retryMs = Math.min(2000, Math.max(100, this.retryMs * 2));
      this.o.onError?.(err);
    } finally {
      this.writing = false;
    }
    if (this.queue.length > 0) this.kick(this.queue.length >= this.batchSize ? 0 : this.lingerMs);
    else for (const r of this.idle.splice(0)) r();
  }
}
