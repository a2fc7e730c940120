import type { Socket } from 'node:net';
import { FrameDecoder, type FrameDropReason, type FrameSink } from '../syslog/frame-decoder.js';
import type { ListenerContext } from './listener-context.js';
import type { Peer } from './peer.js';
import type { Pausable } from './pipeline-gate.js';
import type { Counters } from './source-stats.js';
import { toLogEvent } from './syslog-event.js';

/**
 * One TCP or TLS connection of a syslog sender: bytes in, RFC 6587 frames
 * out, one LogEvent per frame. Reading pauses while the pipeline is full.
 * A connection silent for idle_timeout is closed; one paused by us is not
 * silent, it is waiting for us.
 */
export class StreamConnection implements FrameSink, Pausable {
  private readonly decoder: FrameDecoder;
  private paused = false;
  /** The sender ended the stream (FIN): the decoder has had its end(). */
  private ended = false;
  /** Arrival time of the chunk being decoded. */
  private received = 0;

  constructor(
    readonly socket: Socket,
    readonly peer: Peer,
    private readonly transport: 'tcp' | 'tls',
    private readonly counters: Counters,
    private readonly ctx: ListenerContext,
    onClose: (conn: StreamConnection) => void,
  ) {
    this.decoder = new FrameDecoder(ctx.settings.frame, this);
    socket.setTimeout(ctx.settings.idleTimeoutMs);
    socket.on('timeout', () => {
      if (this.paused) return;
      ctx.stats.connections.idleClosed++;
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => {
      this.ended = true;
      this.decoder.end();
      socket.end();
    });
    socket.on('error', (err) => ctx.logger.debug({ sender: peer.ip, transport, err: err.message }, 'syslog connection error'));
    socket.on('close', () => {
      // Closed without an end of stream (idle timeout, reset, reload): a half frame is a framing loss, not silence.
      if (!this.ended) this.decoder.abandon();
      ctx.gate.unpark(this);
      onClose(this);
    });
  }

  setIdleTimeout(ms: number): void {
    this.socket.setTimeout(ms);
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.received = Date.now();
    this.decoder.push(chunk);
    if (this.ctx.gate.full && !this.paused) {
      this.paused = true;
      this.socket.pause();
      this.ctx.gate.park(this);
    }
  }

  resumeReading(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  frame(buf: Buffer, start: number, end: number): void {
    const c = this.counters;
    const pc = this.peer.counters;
    c.received++;
    pc.received++;
    const ev = toLogEvent(this.transport, c, this.peer, buf, start, end, this.received);
    if (!ev) return;
    c.parsed++;
    pc.parsed++;
    if (!this.ctx.sink.push(ev)) this.ctx.gate.close();
  }

  drop(reason: FrameDropReason): void {
    this.counters.received++;
    this.counters.dropped[reason]++;
    this.peer.counters.received++;
    this.peer.counters.dropped[reason]++;
  }
}
