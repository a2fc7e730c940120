import type { EventSink } from '../model/event-sink.js';

/** A reader that stops taking bytes while the pipeline is full (a TCP or TLS connection). */
export interface Pausable {
  resumeReading(): void;
}

/**
 * Backpressure between the listeners and the pipeline behind them. When the
 * sink says it is full (`push` returned false) the gate closes and stream
 * connections pause reading, so their senders slow down in the kernel's
 * socket buffers instead of growing our memory. The sink's drain listener
 * (called on every drain, as the Pipeline does) opens it again.
 */
export class PipelineGate {
  full = false;
  private readonly parked = new Set<Pausable>();
  private disposed = false;

  constructor(sink: EventSink) {
    sink.onDrain(() => this.open());
  }

  /** The sink refused more. */
  close(): void {
    if (!this.disposed) this.full = true;
  }

  park(p: Pausable): void {
    this.parked.add(p);
  }

  unpark(p: Pausable): void {
    this.parked.delete(p);
  }

  open(): void {
    this.full = false;
    const waiting = [...this.parked];
    this.parked.clear();
    // Resumed sockets read on a later tick; one that fills the pipeline again closes the gate and parks again.
    for (const p of waiting) p.resumeReading();
  }

  /** Listeners stopped: the sink may still call the drain listener; it then does nothing. */
  dispose(): void {
    this.disposed = true;
    this.full = false;
    this.parked.clear();
  }
}
