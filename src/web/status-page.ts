import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ListenAddress } from '../config/service-config.js';
import { formatListenAddress } from '../config/values.js';
import { counterSeries } from '../history/counter-series.js';
import { History } from '../history/history.js';
import { WebAuth } from './web-auth.js';
import { webAddress, webRefusal, type WebConfig } from './web-config.js';
import { WebData, type WebSources } from './web-data.js';
import { WebServer } from './web-server.js';

/** What the page reads of the service (WebSources, less the history it keeps itself), and where it lives. */
export interface StatusPageOptions extends Omit<WebSources, 'history'> {
  config: WebConfig;
  /** The state database file; the history keeps to tables of its own in it. */
  stateFile: string;
  controlSocket: string;
  logger: Logger;
}

/**
 * The status page and its history, as the service holds them: one object
 * to build, feed (history.onMatch, onBan, onUnban, onSettled), start and
 * stop. It is served beside /metrics (`handler`) or on `[web] listen`.
 */
export class StatusPage {
  readonly history: History;
  readonly data: WebData;
  private readonly server: WebServer;
  private own?: Server;
  private readonly log: Logger;

  constructor(private readonly o: StatusPageOptions) {
    this.log = o.logger.child({ component: 'web' });
    this.history = new History({
      file: o.stateFile,
      retentionMs: o.config.historySeconds * 1000,
      counters: () => counterSeries(o),
      logger: this.log,
    });
    this.data = new WebData({ ...o, history: this.history });
    this.server = new WebServer({
      data: this.data,
      auth: new WebAuth(o.config.tokenFile),
      writes: o.config.writes,
      controlSocket: o.controlSocket,
      logger: this.log,
    });
  }

  /** For the metrics server: answers the page's paths when the page lives there. */
  handlerFor(metrics: ListenAddress | undefined): ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined {
    const cfg = this.o.config;
    if (cfg.listen || !metrics || webAddress(cfg, metrics) === null) return undefined;
    return (req, res) => this.server.handle(req, res);
  }

  /** Start the history; listen on `[web] listen` when the page has an address of its own. */
  async start(metrics: ListenAddress | undefined): Promise<void> {
    this.history.start();
    const cfg = this.o.config;
    const addr = webAddress(cfg, metrics);
    if (cfg.enabled && !addr) {
      const why = cfg.listen ?? metrics;
      this.log.warn(why ? webRefusal(cfg, why) ?? 'status page off' : 'status page off: neither [web] listen nor [metrics] listen is set');
      return;
    }
    if (!addr) return;
    if (cfg.listen) {
      const server = createServer((req, res) => {
        if (!this.server.handle(req, res)) res.writeHead(404).end('not found\n');
      });
      this.own = server;
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`web: cannot listen on ${formatListenAddress(addr)}: ${err.code ?? err.message}`)));
        server.listen(addr.port, addr.host, () => resolve());
      });
    }
    this.log.info({ url: `http://${formatListenAddress(addr)}/`, writes: cfg.writes, login: !!cfg.tokenFile }, 'status page');
  }

  async stop(): Promise<void> {
    const s = this.own;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    this.history.stop();
  }
}
