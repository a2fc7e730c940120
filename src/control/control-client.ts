import { createConnection, type Socket } from 'node:net';
import { ControlError, type ControlResponse, type ErrorKind } from './protocol.js';

/** Nothing answers on the control socket: the service is not running (or not here). */
export class ServiceNotRunning extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
  ) {
    super(
      code === 'EACCES'
        ? `cannot open the control socket ${path}: permission denied (run as the service's user)`
        : `fleetban is not running (nothing answers on ${path})`,
    );
  }
}

/** The CLI's side of the control socket. */
export class ControlClient {
  private nextId = 1;
  private buffer = '';
  private readonly waiting = new Map<number, { resolve: (r: ControlResponse) => void; reject: (e: Error) => void }>();
  private closedError: Error | undefined;

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) !== -1) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        let res: ControlResponse;
        try {
          res = JSON.parse(line) as ControlResponse;
        } catch {
          this.failAll(new Error('the service sent an answer that is not JSON'));
          return;
        }
        const w = this.waiting.get(res.id);
        if (w) {
          this.waiting.delete(res.id);
          w.resolve(res);
        } else if (res.ok === false) {
          this.failAll(new ControlError(res.error, res.kind));
        }
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      // The service closed the connection under a request: it is running, so never let that read as "not running".
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') {
        this.failAll(new ControlError(`fleetban is running but closed the control connection before answering (${err.code})`, 'busy'));
      } else {
        this.failAll(err);
      }
    });
    sock.on('close', () => this.failAll(new Error('the service closed the control connection')));
  }

  /** Connect to the socket at `path`; throws ServiceNotRunning when nothing answers. */
  static connect(path: string, timeoutMs = 5000): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const sock = createConnection(path);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new ServiceNotRunning(path, 'ETIMEDOUT'));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        resolve(new ControlClient(sock));
      });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new ServiceNotRunning(path, err.code ?? 'ERROR'));
      });
    });
  }

  /** Ask `verb`; resolves with the result, rejects with ControlError when the service says no. */
  request<T = unknown>(verb: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`the service did not answer "${verb}" within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (res) => {
          clearTimeout(timer);
          if (res.ok) resolve(res.result as T);
          else reject(new ControlError(res.error, res.kind as ErrorKind));
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.sock.write(JSON.stringify({ id, verb, args }) + '\n');
    });
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }

  private failAll(err: Error): void {
    this.closedError ??= err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }
}
