import { lstatSync, mkdirSync, chmodSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { ControlError, MAX_REQUEST, type ControlRequest, type ControlResponse } from './protocol.js';

/** Answers one verb; throws ControlError to answer with an error. */
export type ControlHandler = (args: Record<string, unknown>) => unknown;

export interface ControlServerOptions {
  /** The socket's path (`[fleetban] socket`). */
  path: string;
  logger: Logger;
  /** Clients served at once (default 16). At the limit the longest idle one makes room; when none is idle the newcomer is refused, with an answer saying so. */
  maxConnections?: number;
  /** A client silent this long is disconnected, ms (default 60 s). */
  idleTimeoutMs?: number;
  /** Requests read and not yet answered on one connection (default 32); beyond it the connection is not read. */
  maxInFlight?: number;
  /** Bytes of answers written and not yet read by the client (default 1 MiB); beyond it no request of that connection is answered, and none read, until it reads. */
  maxUnreadAnswers?: number;
  /** Requests answered on one connection (default 100,000); then it is told so and closed (the CLI asks one question per connection). */
  maxRequestsPerConnection?: number;
}

/** One client of the control socket and what it has asked and not yet been answered. */
interface Client {
  sock: Socket;
  /** Bytes of a request line not ended yet. */
  partial: string;
  /** Request lines read and not yet answered, in order. */
  queue: string[];
  /** An answer is being worked out (handlers may be async). */
  busy: boolean;
  /** Reading is paused: too many requests in flight, or answers not read. */
  paused: boolean;
  served: number;
  /** When the client last sent or was sent something. */
  lastActive: number;
  closing: boolean;
}

/** A Unix socket path longer than this does not fit in sockaddr_un. */
const MAX_SOCKET_PATH = 107;

/**
 * The service's control socket: a Unix socket, mode 0600, where the CLI
 * sends one JSON request per line and reads one JSON answer per line (see
 * protocol.ts). The service registers a handler per verb; requests on one
 * connection are answered in order.
 */
export class ControlServer {
  private readonly handlers = new Map<string, ControlHandler>();
  private server: Server | undefined;
  private readonly clients = new Set<Client>();
  private readonly log: Logger;

  constructor(private readonly o: ControlServerOptions) {
    this.log = o.logger.child({ component: 'control' });
  }

  get path(): string {
    return this.o.path;
  }

  /** The handler of `verb`, for a layer that wraps it (the cluster routes verbs through its leader). */
  handler(verb: string): ControlHandler | undefined {
    return this.handlers.get(verb);
  }

  /** Register (or replace) the handler of `verb`. */
  handle(verb: string, handler: ControlHandler): void {
    this.handlers.set(verb, handler);
  }

  /**
   * Listen. A socket file left by a service that died is replaced; a socket
   * where a service answers is not (two services would fight over bans).
   */
  async listen(): Promise<void> {
    const path = this.o.path;
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      throw new Error(`control socket path is longer than ${MAX_SOCKET_PATH} bytes: ${path}`);
    }
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    await removeStaleSocket(path);
    // No server.maxConnections: Node would close clients over it without a word, and the CLI would read "write EPIPE" as "not running".
    const server = createServer((sock) => this.admit(sock));
    // Created 0600 from the first moment: there is no window in which
    // another user could connect before the chmod.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(umask);
    }
    chmodSync(path, 0o600);
    server.on('error', (err) => this.log.error({ err }, 'control socket error'));
    this.server = server;
    this.log.info({ path }, 'control socket listening');
  }

  /** Stop listening, disconnect clients and remove the socket file. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const c of this.clients) c.sock.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      unlinkSync(this.o.path);
    } catch {
      // already gone
    }
  }

  /**
   * A new client. At the connection limit, the client idle longest (nothing
   * asked and not answered) is told why and closed to make room; when every
   * client is in the middle of something, the newcomer is told instead. Either
   * way the one closed gets an answer first, so the CLI can say what happened.
   */
  private admit(sock: Socket): void {
    const limit = this.o.maxConnections ?? 16;
    if (this.clients.size >= limit) {
      let idlest: Client | undefined;
      for (const c of this.clients) {
        if (c.closing || c.busy || c.queue.length > 0 || c.sock.writableLength > 0) continue;
        if (!idlest || c.lastActive < idlest.lastActive) idlest = c;
      }
      const why = `too many control connections (${this.clients.size} open, the limit is ${limit})`;
      if (!idlest) {
        this.log.warn({ open: this.clients.size }, 'control connection refused: too many open');
        this.refuse(sock, `fleetban is running but refused the connection: ${why}`);
        return;
      }
      this.log.info({ open: this.clients.size }, 'closing the idlest control connection to make room');
      this.refuse(idlest.sock, `closed: ${why}, and this one was idle`, idlest);
    }
    this.serve(sock);
  }

  /** Answer `error` (kind busy) and close once the client has it; what it sends meanwhile is read and ignored, so its writes do not fail. */
  private refuse(sock: Socket, error: string, c?: Client): void {
    if (c) {
      if (c.closing) return;
      c.closing = true;
      c.queue.length = 0;
      this.clients.delete(c);
    }
    sock.removeAllListeners('data');
    sock.on('data', () => {});
    sock.on('error', () => {});
    sock.setTimeout(2000, () => sock.destroy());
    sock.end(JSON.stringify({ id: 0, ok: false, kind: 'busy', error } satisfies ControlResponse) + '\n');
    sock.resume();
  }

  private serve(sock: Socket): void {
    const c: Client = { sock, partial: '', queue: [], busy: false, paused: false, served: 0, lastActive: Date.now(), closing: false };
    this.clients.add(c);
    sock.setEncoding('utf8');
    sock.setTimeout(this.o.idleTimeoutMs ?? 60_000, () => {
      // Waiting for the client to read its answers is not idleness of ours, but a client that reads nothing for the whole timeout is gone.
      sock.destroy();
    });
    sock.on('data', (chunk: string) => {
      if (c.closing) return;
      c.lastActive = Date.now();
      c.partial += chunk;
      let nl: number;
      while ((nl = c.partial.indexOf('\n')) !== -1) {
        const line = c.partial.slice(0, nl);
        c.partial = c.partial.slice(nl + 1);
        if (line.trim() !== '') c.queue.push(line);
      }
      if (c.partial.length > MAX_REQUEST) {
        c.queue.length = 0;
        this.write(c, { id: 0, ok: false, kind: 'usage', error: `request longer than ${MAX_REQUEST} bytes` });
        c.closing = true;
        this.clients.delete(c);
        sock.end();
        return;
      }
      this.pump(c);
    });
    // The client read what was waiting: answer the next requests.
    sock.on('drain', () => this.pump(c));
    sock.on('error', () => {});
    sock.on('close', () => {
      c.closing = true;
      c.queue.length = 0;
      this.clients.delete(c);
    });
  }

  /**
   * Answer queued requests in order while the client reads its answers.
   * Backpressure both ways: reading pauses while too many requests wait or
   * the answers written are not being read, and resumes when both are
   * below their bounds. Memory per connection is so bounded by the caps,
   * whatever a client pipelines.
   */
  private pump(c: Client): void {
    const maxInFlight = this.o.maxInFlight ?? 32;
    const maxUnread = this.o.maxUnreadAnswers ?? 1024 * 1024;
    const maxRequests = this.o.maxRequestsPerConnection ?? 100_000;
    const sock = c.sock;
    const blocked = () => sock.writableLength > maxUnread;
    if (!c.busy && !c.closing && c.queue.length > 0 && !blocked()) {
      if (c.served >= maxRequests) {
        c.queue.length = 0;
        this.refuse(sock, `closed: ${maxRequests} requests on one connection is the limit; connect again`, c);
        return;
      }
      const line = c.queue.shift()!;
      c.busy = true;
      c.served++;
      void this.answer(c, line).finally(() => {
        c.busy = false;
        c.lastActive = Date.now();
        this.pump(c);
      });
    }
    if (c.closing) return;
    const shouldPause = c.queue.length >= maxInFlight || blocked();
    if (shouldPause && !c.paused) {
      c.paused = true;
      sock.pause();
    } else if (!shouldPause && c.paused) {
      c.paused = false;
      sock.resume();
    }
  }

  private async answer(c: Client, line: string): Promise<void> {
    let req: ControlRequest;
    try {
      const parsed = JSON.parse(line) as unknown;
      if (!isRequest(parsed)) throw new Error('not a request');
      req = parsed;
    } catch {
      this.write(c, { id: 0, ok: false, kind: 'usage', error: 'malformed request: expected {"id":N,"verb":"...","args":{...}}' });
      return;
    }
    const handler = this.handlers.get(req.verb);
    if (!handler) {
      this.write(c, { id: req.id, ok: false, kind: 'usage', error: `the service does not answer "${req.verb}"` });
      return;
    }
    try {
      const result = await handler(req.args ?? {});
      this.write(c, { id: req.id, ok: true, result: result ?? null });
    } catch (err) {
      if (err instanceof ControlError) {
        this.write(c, { id: req.id, ok: false, kind: err.kind, error: err.message });
      } else {
        this.log.error({ err, verb: req.verb }, 'control request failed');
        this.write(c, { id: req.id, ok: false, kind: 'internal', error: (err as Error).message ?? String(err) });
      }
    }
  }

  private write(c: Client, res: ControlResponse): void {
    if (!c.sock.destroyed && !c.sock.writableEnded) c.sock.write(JSON.stringify(res) + '\n');
  }
}

function isRequest(v: unknown): v is ControlRequest {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.id === 'number' &&
    typeof r.verb === 'string' &&
    (r.args === undefined || (typeof r.args === 'object' && r.args !== null && !Array.isArray(r.args)))
  );
}

async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket: not replacing it`);
  const alive = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another fleetban is already running (it answers on ${path})`);
  unlinkSync(path);
}
