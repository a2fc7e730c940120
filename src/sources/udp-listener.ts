import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { ListenAddress } from '../config/service-config.js';
import { listenError, listenerName } from './listen-error.js';
import type { ListenerContext } from './listener-context.js';
import type { Counters } from './source-stats.js';
import { toLogEvent } from './syslog-event.js';

/**
 * Syslog over UDP (RFC 5426) on one address: one datagram, one message.
 * UDP cannot slow a sender down: the defences against bursts are a large
 * kernel receive buffer and the pipeline's queue, which takes UDP events
 * even above its high-water mark and drops only at its hard limit. Those
 * drops are counted here as overload, per listener and per sender, when the
 * sink reports them (see OverloadCounting).
 */
/**
 * A sink that counts the events it had to drop (the Pipeline does, at its
 * hard limit). Not part of EventSink: a sink without it simply never shows
 * UDP overload here.
 */
export interface OverloadCounting {
  readonly dropped: number;
}

export class UdpListener {
  readonly name: string;
  private socket: dgram.Socket | undefined;
  private readonly counters: Counters;

  constructor(
    readonly address: ListenAddress,
    private readonly ctx: ListenerContext,
  ) {
    this.name = listenerName('udp', address);
    this.counters = ctx.stats.source(this.name);
  }

  /** Binds; rejects with an Error naming the address and why. */
  start(): Promise<void> {
    const type = isIP(this.address.host) === 6 ? 'udp6' : 'udp4';
    const socket = dgram.createSocket({ type, recvBufferSize: this.ctx.settings.recvBufferSize });
    this.socket = socket;
    return new Promise((resolve, reject) => {
      const onBindError = (err: Error) => {
        this.socket = undefined;
        socket.close();
        reject(listenError(this.name, err));
      };
      socket.once('error', onBindError);
      socket.bind({ address: this.address.host, port: this.address.port, exclusive: true }, () => {
        socket.off('error', onBindError);
        socket.on('error', (err) => this.ctx.logger.warn({ listener: this.name, err: err.message }, 'udp socket error'));
        socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address));
        this.logBuffer(this.ctx.settings.recvBufferSize);
        resolve();
      });
    });
  }

  /** The port actually bound (differs from the configured one when that is 0). */
  get port(): number {
    return this.socket?.address().port ?? 0;
  }

  setRecvBufferSize(bytes: number): void {
    if (!this.socket) return;
    try {
      this.socket.setRecvBufferSize(bytes);
    } catch (err) {
      this.ctx.logger.warn({ listener: this.name, err: (err as Error).message }, 'cannot set udp receive buffer');
    }
    this.logBuffer(bytes);
  }

  close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => s.close(() => resolve()));
  }

  private logBuffer(asked: number): void {
    // Linux reports twice what it grants (the other half is its bookkeeping) and caps at net.core.rmem_max.
    let granted = 0;
    try {
      granted = Math.floor(this.socket!.getRecvBufferSize() / 2);
    } catch {
      return;
    }
    const fields = { listener: this.name, asked, granted };
    if (granted < asked) {
      this.ctx.logger.warn(fields, 'udp receive buffer smaller than asked: the kernel caps it at net.core.rmem_max; bursts may be lost (raise it with sysctl)');
    } else {
      this.ctx.logger.info(fields, 'udp listening');
    }
  }

  private onDatagram(msg: Buffer, from: string): void {
    const { peers, settings, gate, sink } = this.ctx;
    const c = this.counters;
    const peer = peers.get(from);
    const pc = peer.counters;
    c.received++;
    pc.received++;
    if (!peer.allowed) {
      c.dropped['not-allowed']++;
      pc.dropped['not-allowed']++;
      return;
    }
    if (msg.length > settings.frame.maxFrame) {
      c.dropped['too-long']++;
      pc.dropped['too-long']++;
      return;
    }
    const ev = toLogEvent('udp', c, peer, msg, 0, msg.length, Date.now());
    if (!ev) return;
    const droppedBefore = this.sinkDropped();
    if (sink.push(ev)) {
      c.parsed++;
      pc.parsed++;
      return;
    }
    // Full: TCP and TLS pause until the drain. Was this event queued anyway, or dropped?
    gate.close();
    if (this.sinkDropped() !== droppedBefore) {
      c.dropped.overload++;
      pc.dropped.overload++;
    } else {
      c.parsed++;
      pc.parsed++;
    }
  }

  private sinkDropped(): number {
    return (this.ctx.sink as Partial<OverloadCounting>).dropped ?? 0;
  }
}
