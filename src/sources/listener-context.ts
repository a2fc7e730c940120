import type { Logger } from 'pino';
import type { EventSink } from '../model/event-sink.js';
import type { FrameDecoderConfig } from '../syslog/frame-decoder.js';
import type { ConnectionLimits, ConnectionLimitSettings } from './connection-limits.js';
import type { PeerBook } from './peer.js';
import type { PipelineGate } from './pipeline-gate.js';
import type { StatsBook } from './source-stats.js';

/** Settings every listener reads live, so a reload changes them in place. */
export interface ListenerSettings extends ConnectionLimitSettings {
  frame: FrameDecoderConfig;
  idleTimeoutMs: number;
  recvBufferSize: number;
}

/** What the listeners of one SyslogListeners share. */
export interface ListenerContext {
  sink: EventSink;
  gate: PipelineGate;
  peers: PeerBook;
  stats: StatsBook;
  limits: ConnectionLimits;
  settings: ListenerSettings;
  logger: Logger;
}
