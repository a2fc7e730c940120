import type { LogEvent } from './log-event.js';

/**
 * Where a source hands its events: the filter engine and jails behind it.
 * `push` returns false when the pipeline behind is full; a source that can
 * slow its sender (TCP, TLS, journalctl's pipe) pauses until `onDrain` fires.
 * UDP cannot pause and counts what it must drop instead.
 */
export interface EventSink {
  push(ev: LogEvent): boolean;
  onDrain(listener: () => void): void;
  /** Events the sink had to throw away (queue at its hard limit); UDP counts its overload by it. */
  readonly dropped?: number;
}
