import type { EventSink } from '../model/event-sink.js';

/** A reader that stops taking bytes while the pipeline is full (a TCP or TLS connection). */
export interface Pausable {
  resumeReading(): void;
}

/**
 * Backpressure between the listeners and the pipeline behind them. When the
 * sink refuses more (`push` returned false) the gate closes: stream
 * connections pause reading, so their senders slow down in the kernel's
 * socket buffers instead of growing our memory; UDP, which cannot slow
 * anyone, drops and counts. The sink's drain opens the gate again.
 *
 * If no drain comes within `retryMs` the gate opens anyway: a sink that
 * forgot to call its drain listeners would otherwise stop every connection
 * for good, and a pipeline that is still full just closes the gate again
 * after one more chunk per connection.
 */
export class PipelineGate {
  full = false;
  private readonly parked = new Set<Pausable>();
  private retry: NodeJS.Timeout | undefined;
  private disposed = false;

  constructor(
    sink: EventSink,
    private readonly retryMs = 1000,
  ) {
    sink.onDrain(() => this.open());
  }

  /** The sink refused more. */
  close(): void {
    if (this.full || this.disposed) return;
    this.full = true;
    this.retry = setTimeout(() => this.open(), this.retryMs);
    this.retry.unref();
  }

  park(p: Pausable): void {
    this.parked.add(p);
  }

  unpark(p: Pausable): void {
    this.parked.delete(p);
  }

  open(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.full = false;
    const waiting = [...this.parked];
    this.parked.clear();
    // Resumed sockets read on a later tick; one that refills the pipeline closes the gate and parks again.
    for (const p of waiting) p.resumeReading();
  }

  dispose(): void {
    this.disposed = true;
    if (this.retry) clearTimeout(this.retry);
    this.parked.clear();
  }
}
