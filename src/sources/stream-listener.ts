import net from 'node:net';
import tls from 'node:tls';
import type { ListenAddress } from '../config/service-config.js';
import { listenError, listenerName } from './listen-error.js';
import type { ListenerContext } from './listener-context.js';
import type { Counters } from './source-stats.js';
import { StreamConnection } from './stream-connection.js';

/** Certificate, key and optional CA (PEM) of a TLS listener. With a CA, clients must present a certificate it signed. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

/** Longest a client may take to finish its TLS handshake; half a handshake must not hold a connection for the whole idle timeout. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Syslog over TCP (RFC 6587) or TLS (RFC 5425) on one address. Senders are
 * checked when they connect, before any byte is read: outside
 * allowed_senders, or over a connection limit, the socket is closed at once.
 */
export class StreamListener {
  readonly name: string;
  private server: net.Server | undefined;
  private tlsServer: tls.Server | undefined;
  private readonly counters: Counters;
  readonly connections = new Set<StreamConnection>();
  /** Raw sockets, TLS ones included before their handshake: closed with the listener. */
  private readonly sockets = new Set<net.Socket>();

  constructor(
    readonly transport: 'tcp' | 'tls',
    readonly address: ListenAddress,
    private readonly ctx: ListenerContext,
    private readonly tlsMaterial?: TlsMaterial,
  ) {
    this.name = listenerName(transport, address);
    this.counters = ctx.stats.source(this.name);
  }

  /** With a CA set, clients must present a certificate it signed: the listener's mode, fixed for its lifetime. */
  get mutualTls(): boolean {
    return this.tlsMaterial?.ca !== undefined;
  }

  start(): Promise<void> {
    if (this.transport === 'tls') {
      const m = this.tlsMaterial;
      if (!m) return Promise.reject(new Error(`${this.name}: TLS needs tls.cert and tls.key`));
      try {
        // Never listens itself: the TCP server below admits a socket first, then hands it over for the handshake.
        this.tlsServer = tls.createServer({
          cert: m.cert,
          key: m.key,
          ca: m.ca,
          requestCert: m.ca !== undefined,
          rejectUnauthorized: m.ca !== undefined,
          minVersion: 'TLSv1.2',
          handshakeTimeout: Math.min(HANDSHAKE_TIMEOUT_MS, this.ctx.settings.idleTimeoutMs),
        });
      } catch (err) {
        return Promise.reject(new Error(`${this.name}: cannot use tls.cert/tls.key/tls.ca: ${(err as Error).message}`));
      }
      this.tlsServer.on('secureConnection', (s: tls.TLSSocket) => this.attach(s));
      this.tlsServer.on('tlsClientError', (err, s) => {
        this.ctx.stats.connections.tlsFailed++;
        this.ctx.logger.debug({ listener: this.name, sender: s.remoteAddress, err: err.message }, 'tls handshake failed');
        // With a listener for this event Node leaves the socket open; nothing more will come over it.
        s.destroy();
      });
    }
    // Strangers are turned away before any byte is read, and before any TLS work.
    const server = net.createServer((raw) => {
      if (!this.admit(raw)) return;
      if (this.tlsServer) this.tlsServer.emit('connection', raw);
      else this.attach(raw);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        this.server = undefined;
        reject(listenError(this.name, err));
      };
      server.once('error', onError);
      server.listen({ host: this.address.host, port: this.address.port, exclusive: true, backlog: 4096 }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.ctx.logger.warn({ listener: this.name, err: err.message }, 'listener error'));
        this.ctx.logger.info({ listener: this.name, mutualTls: this.transport === 'tls' ? this.mutualTls : undefined }, `${this.transport} listening`);
        resolve();
      });
    });
  }

  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  /** New certificate, key or CA for a TLS listener (reload); the mode (CA or not) stays as it was. */
  setTlsMaterial(m: TlsMaterial): void {
    this.tlsServer?.setSecureContext({ cert: m.cert, key: m.key, ca: m.ca });
  }

  /** Count the connection or refuse it. Returns false when refused (the socket is then destroyed). */
  private admit(raw: net.Socket): boolean {
    const { peers, limits, stats } = this.ctx;
    const peer = peers.get(raw.remoteAddress ?? '');
    if (!peer.allowed) {
      stats.connections.refused['not-allowed']++;
      this.counters.received++;
      this.counters.dropped['not-allowed']++;
      peer.counters.received++;
      peer.counters.dropped['not-allowed']++;
      raw.destroy();
      return false;
    }
    if (!limits.admit(peer.ip)) {
      stats.connections.refused.limit++;
      raw.destroy();
      return false;
    }
    stats.connections.accepted++;
    stats.connections.open++;
    this.sockets.add(raw);
    raw.once('close', () => {
      this.sockets.delete(raw);
      limits.release(peer.ip);
      stats.connections.open--;
    });
    // Errors before the connection is attached (a reset during the TLS handshake) need a listener, or they would crash the process.
    raw.on('error', () => {});
    return true;
  }

  private attach(socket: net.Socket): void {
    const peer = this.ctx.peers.get(socket.remoteAddress ?? '');
    const conn = new StreamConnection(socket, peer, this.transport, this.counters, this.ctx, (c) => this.connections.delete(c));
    this.connections.add(conn);
  }

  /** Stop accepting and close every connection. */
  close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
      for (const c of this.connections) c.close();
    });
  }
}
