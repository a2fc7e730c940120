import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { ListenAddress, ListenConfig } from '../config/service-config.js';
import type { EventSink } from '../model/event-sink.js';
import { parseCidr } from '../net/address.js';
import { CidrSet } from '../net/cidr-set.js';
import { DEFAULT_FRAME_DECODER_CONFIG } from '../syslog/frame-decoder.js';
import { ConnectionLimits } from './connection-limits.js';
import { listenerName } from './listen-error.js';
import type { ListenerContext, ListenerSettings } from './listener-context.js';
import { PeerBook } from './peer.js';
import { PipelineGate } from './pipeline-gate.js';
import type { SenderPolicy } from './sender-policy.js';
import { StatsBook, type SourceStats } from './source-stats.js';
import { StreamListener, type TlsMaterial } from './stream-listener.js';
import { UdpListener } from './udp-listener.js';

export type { SenderPolicy } from './sender-policy.js';
export type { SourceStats } from './source-stats.js';

/** Where a listener is bound, port 0 resolved to the port the kernel chose. */
export interface BoundAddress extends ListenAddress {
  transport: 'udp' | 'tcp' | 'tls';
}

/**
 * Every syslog listener of `[listen]`: UDP, TCP and TLS on each configured
 * address, feeding one EventSink. A reload (`update`) keeps the listeners
 * and connections whose address did not change, so senders on TCP do not
 * notice it.
 */
export class SyslogListeners {
  private readonly udp = new Map<string, UdpListener>();
  private readonly streams = new Map<string, StreamListener>();
  private readonly ctx: ListenerContext;
  private readonly settings: ListenerSettings;
  private tlsMaterial: TlsMaterial | undefined;

  constructor(
    private cfg: ListenConfig,
    sink: EventSink,
    policy: SenderPolicy,
    private readonly logger: Logger,
  ) {
    this.settings = {
      frame: { ...DEFAULT_FRAME_DECODER_CONFIG, maxFrame: cfg.maxFrame },
      idleTimeoutMs: cfg.idleTimeoutMs,
      recvBufferSize: cfg.recvBufferSize,
      maxConnections: cfg.maxConnections,
      maxConnectionsPerSender: cfg.maxConnectionsPerSender,
    };
    const stats = new StatsBook();
    this.ctx = {
      sink,
      gate: new PipelineGate(sink),
      stats,
      peers: new PeerBook(policy, zoneLookup(cfg, policy), stats),
      limits: new ConnectionLimits(this.settings),
      settings: this.settings,
      logger,
    };
  }

  /** Binds every listener. Rejects, with nothing left bound, naming the first address that failed and why. */
  async start(): Promise<void> {
    const tlsMaterial = this.cfg.tls.length > 0 ? readTlsMaterial(this.cfg) : undefined;
    await this.open(this.wanted(this.cfg), tlsMaterial);
    this.tlsMaterial = tlsMaterial;
    this.warnOpenUdp(this.cfg);
  }

  /**
   * Reload. New addresses are bound first; if one fails the reload is
   * refused and the old listeners keep running. Then removed addresses are
   * closed. Kept listeners get the new limits and a TLS listener its new
   * certificate; a change between TLS with and without client certificates
   * restarts the TLS listeners. Connections from senders the new policy no
   * longer allows are closed.
   */
  async update(cfg: ListenConfig, policy: SenderPolicy): Promise<void> {
    const tlsMaterial = cfg.tls.length > 0 ? readTlsMaterial(cfg) : undefined;
    const modeChanged = (tlsMaterial?.ca !== undefined) !== (this.tlsMaterial?.ca !== undefined);
    if (modeChanged) {
      for (const [key, l] of this.streams) {
        if (l.transport !== 'tls') continue;
        this.streams.delete(key);
        await l.close();
      }
    }
    const wanted = this.wanted(cfg);
    await this.open(wanted, tlsMaterial);
    this.tlsMaterial = tlsMaterial;

    const gone: (UdpListener | StreamListener)[] = [];
    for (const [key, l] of this.udp) if (!wanted.has(key)) gone.push(l);
    for (const [key, l] of this.streams) if (!wanted.has(key)) gone.push(l);
    for (const l of gone) {
      if (l instanceof UdpListener) this.udp.delete(l.name);
      else this.streams.delete(l.name);
    }
    await Promise.all(gone.map((l) => l.close()));

    const s = this.settings;
    s.frame.maxFrame = cfg.maxFrame;
    s.maxConnections = cfg.maxConnections;
    s.maxConnectionsPerSender = cfg.maxConnectionsPerSender;
    if (s.recvBufferSize !== cfg.recvBufferSize) {
      s.recvBufferSize = cfg.recvBufferSize;
      await Promise.all([...this.udp.values()].map((l) => l.setRecvBufferSize(cfg.recvBufferSize)));
    }
    if (s.idleTimeoutMs !== cfg.idleTimeoutMs) {
      s.idleTimeoutMs = cfg.idleTimeoutMs;
      for (const l of this.streams.values()) for (const c of l.connections) c.setIdleTimeout(cfg.idleTimeoutMs);
    }
    if (tlsMaterial) for (const l of this.streams.values()) if (l.transport === 'tls') l.setTlsMaterial(tlsMaterial);

    this.cfg = cfg;
    this.ctx.peers.reset(policy, zoneLookup(cfg, policy));
    for (const l of this.streams.values()) {
      for (const c of l.connections) {
        if (!policy.allowed(c.peer.ip)) {
          this.logger.info({ sender: c.peer.ip, listener: l.name }, 'closing connection: sender no longer allowed');
          c.close();
        }
      }
    }
    this.warnOpenUdp(cfg);
  }

  /** Stop accepting and close every connection. */
  async stop(): Promise<void> {
    const all = [...this.udp.values(), ...this.streams.values()];
    this.udp.clear();
    this.streams.clear();
    await Promise.all(all.map((l) => l.close()));
    this.ctx.gate.dispose();
  }

  stats(): SourceStats {
    return this.ctx.stats.snapshot();
  }

  /** Addresses bound now, with the real port of those configured with port 0 (tests use this). */
  bound(): BoundAddress[] {
    const out: BoundAddress[] = [];
    for (const l of this.udp.values()) out.push({ transport: 'udp', host: l.address.host, port: l.port });
    for (const l of this.streams.values()) out.push({ transport: l.transport, host: l.address.host, port: l.port });
    return out;
  }

  /** Listener names wanted by `cfg`, with the address of each. */
  private wanted(cfg: ListenConfig): Map<string, { transport: 'udp' | 'tcp' | 'tls'; address: ListenAddress }> {
    const out = new Map<string, { transport: 'udp' | 'tcp' | 'tls'; address: ListenAddress }>();
    for (const transport of ['udp', 'tcp', 'tls'] as const) {
      for (const a of cfg[transport]) {
        const address = { host: unbracket(a.host), port: a.port };
        out.set(listenerName(transport, address), { transport, address });
      }
    }
    return out;
  }

  /** Binds the listeners of `wanted` not bound yet; on a failure closes those it bound and rejects. */
  private async open(
    wanted: Map<string, { transport: 'udp' | 'tcp' | 'tls'; address: ListenAddress }>,
    tlsMaterial: TlsMaterial | undefined,
  ): Promise<void> {
    const opened: (UdpListener | StreamListener)[] = [];
    try {
      for (const [key, w] of wanted) {
        if (this.udp.has(key) || this.streams.has(key)) continue;
        if (w.transport === 'udp') {
          const l = new UdpListener(w.address, this.ctx);
          await l.start();
          opened.push(l);
        } else {
          const l = new StreamListener(w.transport, w.address, this.ctx, w.transport === 'tls' ? tlsMaterial : undefined);
          await l.start();
          opened.push(l);
        }
      }
    } catch (err) {
      await Promise.all(opened.map((l) => l.close()));
      throw err;
    }
    for (const l of opened) {
      if (l instanceof UdpListener) this.udp.set(l.name, l);
      else this.streams.set(l.name, l);
    }
  }

  /**
   * UDP source addresses are trivially forged. Listening beyond loopback
   * with an allowlist that lets everyone in means one forged failure line
   * from the internet can ban an innocent address on every server.
   */
  private warnOpenUdp(cfg: ListenConfig): void {
    const wide = cfg.udp.filter((a) => !isLoopback(unbracket(a.host)));
    if (wide.length === 0) return;
    const open = cfg.allowedSenders.filter((c) => parseCidr(c.trim())?.prefix === 0);
    if (open.length > 0) {
      this.logger.warn(
        { listeners: wide.map((a) => listenerName('udp', a)), allowed_senders: open },
        'syslog over UDP is accepted from any address: forged lines can ban innocent addresses; list your mail servers in allowed_senders',
      );
    }
  }
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  const loop = new CidrSet();
  loop.add('127.0.0.0/8');
  return loop.has(host);
}

/** Zone name of a sender: the policy's answer, else `[listen] timezone`, else undefined (the central host's). */
function zoneLookup(cfg: ListenConfig, policy: SenderPolicy): (ip: string) => string | undefined {
  const table = cfg.senderTimezones.map((z) => {
    const net = new CidrSet();
    net.add(z.cidr);
    return { net, tz: z.tz };
  });
  return (ip) => {
    const fromPolicy = policy.timezoneOf?.(ip);
    if (fromPolicy !== undefined) return fromPolicy;
    for (const z of table) if (z.net.has(ip)) return z.tz;
    return undefined;
  };
}

function readTlsMaterial(cfg: ListenConfig): TlsMaterial {
  const read = (key: string, path: string | undefined): Buffer => {
    if (!path) throw new Error(`[listen] tls is set but ${key} is not`);
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`[listen] ${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const m: TlsMaterial = { cert: read('tls.cert', cfg.tlsCert), key: read('tls.key', cfg.tlsKey) };
  if (cfg.tlsCa) m.ca = read('tls.ca', cfg.tlsCa);
  return m;
}
