import pg from 'pg';
import type { Logger } from 'pino';
import { clientConfig, redactSecret, type StateUrl } from './state-url.js';

/**
 * The node's connections to PostgreSQL:
 * - `work`: a small pool for batches, replication and queries;
 * - `lease`: a pool of one for the lease and the heartbeat, so a slow batch
 *   never delays a renewal;
 * - a listener connection for LISTEN, reconnected whenever it drops.
 *
 * Nothing here may throw at the service: a database that is down, restarts
 * or cuts a connection shows up as rejected queries (the callers retry) and
 * as log lines, never as an unhandled 'error' event.
 */
export class PgConnection {
  readonly work: pg.Pool;
  readonly lease: pg.Pool;
  private listener: pg.Client | undefined;
  private listenTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly handlers = new Map<string, (payload: string) => void>();
  private readonly log: Logger;
  /** Called each time the listener is (re)connected: notifications sent meanwhile are lost, poll now. */
  onListening: () => void = () => undefined;

  constructor(
    readonly url: StateUrl,
    private readonly password: string | undefined,
    node: string,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'cluster' });
    const cfg = clientConfig(url, password, `fleetban ${node}`);
    this.work = new pg.Pool({ ...cfg, max: 4, idleTimeoutMillis: 30_000 });
    this.lease = new pg.Pool({ ...cfg, max: 1, idleTimeoutMillis: 30_000 });
    for (const p of [this.work, this.lease]) {
      // The pool listens for errors of its idle clients only: a connection
      // that breaks while checked out (PostgreSQL restarting under a query)
      // emits 'error' with no listener, which would end the process. The
      // query in flight rejects with the same error and its caller copes.
      p.on('connect', (client) => client.on('error', () => undefined));
      p.on('error', (err) => this.log.warn({ error: this.clean(err) }, 'PostgreSQL connection lost'));
    }
  }

  /** An error's text without the password, whatever the driver put in it. */
  clean(err: unknown): string {
    return redactSecret(err instanceof Error ? err.message : String(err), this.password);
  }

  /** LISTEN on `channel`; the handler gets each notification's payload. */
  listen(channel: string, handler: (payload: string) => void): void {
    this.handlers.set(channel, handler);
  }

  /** Connect the listener (and keep reconnecting it). */
  startListening(): void {
    if (this.closed || this.listener) return;
    const c = new pg.Client(clientConfig(this.url, this.password, 'fleetban listen'));
    this.listener = c;
    const retry = () => {
      if (this.listener !== c) return;
      this.listener = undefined;
      c.removeAllListeners('notification');
      void c.end().catch(() => undefined);
      if (!this.closed) this.listenTimer = setTimeout(() => this.startListening(), 500);
    };
    c.on('error', (err) => {
      this.log.debug({ error: this.clean(err) }, 'listener connection lost');
      retry();
    });
    c.on('end', retry);
    c.on('notification', (n) => this.handlers.get(n.channel)?.(n.payload ?? ''));
    c.connect()
      .then(async () => {
        for (const ch of this.handlers.keys()) await c.query(`LISTEN ${pg.escapeIdentifier(ch)}`);
        this.onListening();
      })
      .catch((err: unknown) => {
        this.log.debug({ error: this.clean(err) }, 'listener cannot connect');
        retry();
      });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.listenTimer);
    const l = this.listener;
    this.listener = undefined;
    await Promise.all([l?.end().catch(() => undefined), this.work.end().catch(() => undefined), this.lease.end().catch(() => undefined)]);
  }
}
