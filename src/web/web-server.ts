import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { ControlClient } from '../control/control-client.js';
import { ControlError } from '../control/protocol.js';
import { WebAuth, sessionCookie } from './web-auth.js';
import { RANGES, type RangeName, type WebData } from './web-data.js';
import { pageHtml } from './page.js';

export interface WebServerOptions {
  data: WebData;
  auth: WebAuth;
  writes: boolean;
  /** The control socket: writes go through it, the same path as `fleetban ban` and `unban`. */
  controlSocket: string;
  logger?: Logger;
}

/** The page's static files: ES modules beside this file (compiled by tsc from src/web/assets) and uPlot from its package. */
const ASSETS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'assets');
const UPLOT_DIR = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
const ASSETS: Record<string, { file: string; type: string }> = {
  '/assets/uPlot.esm.js': { file: join(UPLOT_DIR, 'uPlot.esm.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/uPlot.min.css': { file: join(UPLOT_DIR, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};
for (const name of ['app.js', 'views.js', 'plots.js', 'style.js', 'dom.js']) {
  ASSETS[`/assets/${name}`] = { file: join(ASSETS_DIR, name), type: 'text/javascript; charset=utf-8' };
}

/** Largest request body read (a login or a ban is a few hundred bytes). */
const MAX_BODY = 16 * 1024;

const SECURITY_HEADERS = {
  // Every asset is served from here: nothing is fetched from elsewhere, nothing inline runs.
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The status page over HTTP: the page, its assets, the JSON of each view,
 * and (with `[web] writes = yes`) logins, bans and unbans. Mounted beside
 * /metrics or on its own address.
 */
export class WebServer {
  private readonly cache = new Map<string, Buffer>();

  constructor(private readonly o: WebServerOptions) {}

  /** Answer `req` if it is the page's; false leaves it to the caller (/metrics). */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://page');
    const path = url.pathname;
    if (path !== '/' && !path.startsWith('/assets/') && !path.startsWith('/api/')) return false;
    this.route(req, res, url).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) this.o.logger?.error({ err: (err as Error).message, path }, 'status page request failed');
      if (!res.headersSent) send(res, status, { error: (err as Error).message });
      else res.end();
    });
    return true;
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const { auth, data } = this.o;
    if (req.method === 'GET' && path === '/') {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' }).end(pageHtml());
      return;
    }
    if (req.method === 'GET' && path.startsWith('/assets/')) {
      const a = ASSETS[path];
      if (!a) throw new HttpError(404, 'no such asset');
      let body = this.cache.get(path);
      if (!body) this.cache.set(path, (body = readFileSync(a.file)));
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': a.type, 'cache-control': 'max-age=300' }).end(body);
      return;
    }
    // A write from another site's page: browsers say so (Origin, Sec-Fetch-Site) and it is refused before anything else.
    if (req.method === 'POST' && crossSite(req)) throw new HttpError(403, 'cross-site request refused');
    if (path === '/api/session') {
      const s = auth.session(req);
      send(res, 200, { loginRequired: auth.required, authenticated: s !== null, writes: this.o.writes, csrf: s?.csrf ?? null });
      return;
    }
    if (path === '/api/login' && req.method === 'POST') {
      const body = await jsonBody(req);
      if (!auth.required) throw new HttpError(404, 'no login: [web] token_file is not set');
      const r = auth.login(typeof body.token === 'string' ? body.token : '', req.socket.remoteAddress ?? '');
      if (r === 'refused') throw new HttpError(429, 'too many wrong tokens: wait a minute');
      if (r === null) throw new HttpError(403, 'wrong token');
      res.setHeader('set-cookie', sessionCookie(r.id));
      send(res, 200, { authenticated: true, writes: this.o.writes, csrf: r.csrf });
      return;
    }
    if (path === '/api/logout' && req.method === 'POST') {
      await jsonBody(req);
      auth.logout(req);
      res.setHeader('set-cookie', sessionCookie(null));
      send(res, 200, { authenticated: false });
      return;
    }
    // Everything below shows attackers and user names: with a token file, only to a session.
    if (auth.required && !auth.session(req)) throw new HttpError(401, 'log in first');
    if (req.method === 'POST' && (path === '/api/ban' || path === '/api/unban')) {
      const body = await jsonBody(req);
      if (!this.o.writes) throw new HttpError(403, 'the page is read-only ([web] writes = no)');
      if (!auth.mayWrite(req)) throw new HttpError(403, 'missing or wrong CSRF token');
      send(res, 200, await this.write(path === '/api/ban' ? 'ban' : 'unban', body));
      return;
    }
    if (req.method !== 'GET') throw new HttpError(405, 'method not allowed');
    const range = rangeOf(url);
    const q = url.searchParams.get('q') ?? undefined;
    switch (path) {
      case '/api/overview':
        return send(res, 200, data.overview(range, q || undefined));
      case '/api/attackers':
        return send(res, 200, data.attackers(q || undefined));
      case '/api/attacker':
        return send(res, 200, data.attacker(url.searchParams.get('ip') ?? ''));
      case '/api/ingest':
        return send(res, 200, data.ingest(range));
      case '/api/push':
        return send(res, 200, data.push());
      case '/api/listeners':
        return send(res, 200, data.listeners(range));
      default:
        throw new HttpError(404, 'no such view');
    }
  }

  /** Ban or unban through the control socket, exactly as the CLI does. */
  private async write(verb: 'ban' | 'unban', body: Record<string, unknown>): Promise<unknown> {
    const args: Record<string, string> = {};
    for (const k of ['jail', 'ip'] as const) {
      const v = body[k];
      if (v === undefined || v === null || v === '') continue;
      if (typeof v !== 'string' || v.length > 100) throw new HttpError(400, `${k}: expected a string`);
      args[k] = v;
    }
    if (!args.ip) throw new HttpError(400, 'ip: missing');
    if (verb === 'ban' && !args.jail) throw new HttpError(400, 'jail: missing');
    const client = await ControlClient.connect(this.o.controlSocket);
    try {
      const r = await client.request<unknown>(verb, args);
      this.o.logger?.info({ verb, ...args }, 'status page write');
      return r;
    } catch (err) {
      if (err instanceof ControlError) throw new HttpError(err.kind === 'usage' ? 400 : 409, err.message);
      throw err;
    } finally {
      client.close();
    }
  }
}

function crossSite(req: IncomingMessage): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return true;
  const origin = req.headers.origin;
  if (!origin || origin === 'null') return origin === 'null';
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

function rangeOf(url: URL): RangeName {
  const r = url.searchParams.get('range') ?? 'hour';
  return r in RANGES ? (r as RangeName) : 'hour';
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

/** A JSON object body. A form post (no JSON content type) is refused: a page on another site can send those without CORS. */
async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, 'expected a JSON body (content-type: application/json)');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new HttpError(413, 'body too large');
    chunks.push(c);
  }
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw new HttpError(400, 'malformed JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(400, 'expected a JSON object');
  return v as Record<string, unknown>;
}
