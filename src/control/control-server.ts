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
  /** Clients served at once (default 16); more are refused. */
  maxConnections?: number;
  /** A client silent this long is disconnected, ms (default 60 s). */
  idleTimeoutMs?: number;
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
  private readonly clients = new Set<Socket>();
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
    const server = createServer((sock) => this.serve(sock));
    server.maxConnections = this.o.maxConnections ?? 16;
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
    for (const c of this.clients) c.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      unlinkSync(this.o.path);
    } catch {
      // already gone
    }
  }

  private serve(sock: Socket): void {
    this.clients.add(sock);
    sock.setEncoding('utf8');
    sock.setTimeout(this.o.idleTimeoutMs ?? 60_000, () => sock.destroy());
    let buffer = '';
    let chain = Promise.resolve();
    sock.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.trim() === '') continue;
        chain = chain.then(() => this.answer(sock, line));
      }
      if (buffer.length > MAX_REQUEST) {
        this.write(sock, { id: 0, ok: false, kind: 'usage', error: `request longer than ${MAX_REQUEST} bytes` });
        sock.end();
        buffer = '';
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => this.clients.delete(sock));
  }

  private async answer(sock: Socket, line: string): Promise<void> {
    let req: ControlRequest;
    try {
      const parsed = JSON.parse(line) as unknown;
      if (!isRequest(parsed)) throw new Error('not a request');
      req = parsed;
    } catch {
      this.write(sock, { id: 0, ok: false, kind: 'usage', error: 'malformed request: expected {"id":N,"verb":"...","args":{...}}' });
      return;
    }
    const handler = this.handlers.get(req.verb);
    if (!handler) {
      this.write(sock, { id: req.id, ok: false, kind: 'usage', error: `the service does not answer "${req.verb}"` });
      return;
    }
    try {
      const result = await handler(req.args ?? {});
      this.write(sock, { id: req.id, ok: true, result: result ?? null });
    } catch (err) {
      if (err instanceof ControlError) {
        this.write(sock, { id: req.id, ok: false, kind: err.kind, error: err.message });
      } else {
        this.log.error({ err, verb: req.verb }, 'control request failed');
        this.write(sock, { id: req.id, ok: false, kind: 'internal', error: (err as Error).message ?? String(err) });
      }
    }
  }

  private write(sock: Socket, res: ControlResponse): void {
    if (!sock.destroyed) sock.write(JSON.stringify(res) + '\n');
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
