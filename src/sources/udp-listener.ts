import { isIP } from 'node:net';
import type { ListenAddress } from '../config/service-config.js';
import { listenError, listenerName } from './listen-error.js';
import type { ListenerContext } from './listener-context.js';
import type { Counters } from './source-stats.js';
import { toLogEvent } from './syslog-event.js';
import { UdpSocketDrops } from './udp-socket-drops.js';
import { DEFAULT_MAX_PENDING_BYTES, UdpReceiveThread } from './udp-receive-thread.js';

/** Datagrams taken from the ring per turn of the event loop (the pipeline matches in batches of 4,096). */
const TAKE_PER_TURN = 4096;

/**
 * Syslog over UDP (RFC 5426) on one address: one datagram, one message.
 * UDP cannot slow a sender down. The defences against bursts, in order: a
 * large kernel receive buffer, a thread that empties it whatever the main
 * thread is doing (udp-receive-thread.ts), and the pipeline's queue, which
 * takes UDP events even above its high-water mark. What is lost anyway is
 * counted as overload, per listener and per sender: datagrams the thread
 * could not hand over, and events the sink reports it dropped. What the
 * kernel drops before the thread reads it (a full receive buffer) only the
 * kernel knows: its count for the socket is shown as `kernelDrops`.
 */
export class UdpListener {
  readonly name: string;
  private thread: UdpReceiveThread | undefined;
  private readonly counters: Counters;

  constructor(
    readonly address: ListenAddress,
    private readonly ctx: ListenerContext,
  ) {
    this.name = listenerName('udp', address);
    this.counters = ctx.stats.source(this.name);
  }

  /** Binds; rejects with an Error naming the address and why. */
  async start(): Promise<void> {
    let thread: UdpReceiveThread;
    try {
      thread = await UdpReceiveThread.start(
        {
          host: this.address.host,
          port: this.address.port,
          type: isIP(this.address.host) === 6 ? 'udp6' : 'udp4',
          recvBufferSize: this.ctx.settings.recvBufferSize,
          maxPendingBytes: DEFAULT_MAX_PENDING_BYTES,
        },
        {
          onReadable: () => this.take(),
          onDropped: (counts) => this.countDropped(counts),
          onWarning: (message) => this.ctx.logger.warn({ listener: this.name, err: message }, 'udp socket error'),
        },
      );
    } catch (err) {
      throw listenError(this.name, err);
    }
    this.thread = thread;
    thread.arm();
    const kernel = new UdpSocketDrops(this.address.host, thread.port, isIP(this.address.host) === 6 ? 'udp6' : 'udp4');
    this.ctx.stats.watchKernelDrops(this.name, () => kernel.read());
    thread.onUnexpectedExit = () => {
      if (this.thread !== thread) return;
      this.thread = undefined;
      this.takeAll(thread);
      this.ctx.stats.retireKernelDrops(this.name);
      // Never stay deaf in silence: a listener that stopped reading is a hole in the fleet's protection.
      this.ctx.logger.error({ listener: this.name }, 'udp receive thread ended unexpectedly; starting a new one');
      this.start().catch((err: Error) => this.ctx.logger.error({ listener: this.name, err: err.message }, 'udp listener lost'));
    };
    this.logBuffer(this.ctx.settings.recvBufferSize);
  }

  /** The port actually bound (differs from the configured one when that is 0). */
  get port(): number {
    return this.thread?.port ?? 0;
  }

  async setRecvBufferSize(bytes: number): Promise<void> {
    if (!this.thread) return;
    await this.thread.setRecvBufferSize(bytes);
    this.logBuffer(bytes);
  }

  async close(): Promise<void> {
    const t = this.thread;
    this.thread = undefined;
    if (!t) return;
    this.ctx.stats.retireKernelDrops(this.name);
    await t.close();
    // What the thread had read before its socket closed is still in the ring.
    this.takeAll(t);
  }

  private logBuffer(asked: number): void {
    // Linux reports twice what it grants (the other half is its bookkeeping) and caps at net.core.rmem_max.
    const granted = Math.floor((this.thread?.reportedRecvBuffer ?? 0) / 2);
    const fields = { listener: this.name, asked, granted, receiveThreadNice: this.thread?.nice };
    if (granted < asked) {
      this.ctx.logger.warn(fields, 'udp receive buffer smaller than asked: the kernel caps it at net.core.rmem_max; bursts may be lost (raise it with sysctl)');
    } else {
      this.ctx.logger.info(fields, 'udp listening');
    }
  }

  /**
   * Datagrams wait in the ring: take a bounded share per turn of the event
   * loop, so TCP, the journal and the pipeline's own matching keep their
   * turns during a flood, and come back until the ring is empty.
   */
  private take(): void {
    const thread = this.thread;
    if (!thread) return;
    if (thread.read(TAKE_PER_TURN, this.visit) === TAKE_PER_TURN) setImmediate(() => this.take());
    else thread.arm();
  }

  private takeAll(thread: UdpReceiveThread): void {
    while (thread.read(TAKE_PER_TURN, this.visit) === TAKE_PER_TURN) {
      /* until empty */
    }
  }

  private readonly visit = (buf: Buffer, start: number, end: number, from: string, received: number): void =>
    this.onDatagram(buf, start, end, from, received);

  private countDropped(counts: Record<string, number>): void {
    for (const [from, n] of Object.entries(counts)) {
      const peer = this.ctx.peers.get(from);
      this.counters.received += n;
      this.counters.dropped.overload += n;
      peer.counters.received += n;
      peer.counters.dropped.overload += n;
    }
  }

  private onDatagram(buf: Buffer, start: number, end: number, from: string, received: number): void {
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
    if (end - start > settings.frame.maxFrame) {
      c.dropped['too-long']++;
      pc.dropped['too-long']++;
      return;
    }
    const ev = toLogEvent('udp', c, peer, buf, start, end, received);
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
    return this.ctx.sink.dropped ?? 0;
  }
}
