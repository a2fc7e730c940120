import { readFileSync } from 'node:fs';
import type { ClientConfig } from 'pg';

/**
 * `[state] url = postgresql://USER@HOST[:PORT]/DB`, and where its password
 * comes from. HOST may be a URL-encoded Unix socket folder
 * (`postgresql://fleetban@%2Frun%2Fpostgresql/fleetban`), as libpq allows.
 * A password is never taken from the URL's text into a log line: use
 * `redactUrl` for anything shown.
 */
export interface StateUrl {
  user: string;
  /** Host name, address, or an absolute socket folder. */
  host: string;
  port: number;
  database: string;
  /** A password written into the URL itself (discouraged: prefer password_file). */
  password?: string;
}

export class StateUrlError extends Error {}

export function parseStateUrl(text: string): StateUrl {
  const t = text.trim();
  const m = /^(postgres(?:ql)?):\/\/(?:([^@/]*)@)?([^/?#]*)\/([^?#]+)(?:\?[^#]*)?$/.exec(t);
  if (!m) throw new StateUrlError(`expected postgresql://USER@HOST/DB, not ${JSON.stringify(redactUrl(t))}`);
  const [, , auth = '', hostPort = '', db = ''] = m;
  let user = auth;
  let password: string | undefined;
  const colon = auth.indexOf(':');
  if (colon !== -1) {
    user = auth.slice(0, colon);
    password = decode(auth.slice(colon + 1), 'password');
  }
  user = decode(user, 'user');
  let host = hostPort;
  let port = 5432;
  // [v6]:port, name:port, or an encoded socket folder (which has no colon).
  const pm = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(hostPort);
  if (!pm) throw new StateUrlError(`bad host in ${JSON.stringify(redactUrl(t))}`);
  host = decode(pm[1]!.replace(/^\[|\]$/g, ''), 'host');
  if (pm[2] !== undefined) port = Number(pm[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new StateUrlError(`bad port in ${JSON.stringify(redactUrl(t))}`);
  if (!user) throw new StateUrlError(`the url names no user: postgresql://USER@HOST/DB, not ${JSON.stringify(redactUrl(t))}`);
  if (!host) throw new StateUrlError(`the url names no host (a socket folder works: %2Frun%2Fpostgresql), not ${JSON.stringify(redactUrl(t))}`);
  const database = decode(db, 'database');
  return password === undefined ? { user, host, port, database } : { user, host, port, database, password };
}

function decode(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new StateUrlError(`bad percent-encoding in the url's ${what}`);
  }
}

/** The url with any password replaced by `***`: safe for logs and error messages. */
export function redactUrl(text: string): string {
  return text.replace(/^([a-z]+:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

/** Replace every occurrence of `secret` in `text` (an error from the driver may quote it). */
export function redactSecret(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('***') : text;
}

/**
 * The password: from `password_file` (first line, the file should be mode
 * 0600), else the url, else PGPASSWORD in the environment, else none (peer
 * or trust authentication over a socket).
 */
export function statePassword(url: StateUrl, passwordFile: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (passwordFile) {
    let text: string;
    try {
      text = readFileSync(passwordFile, 'utf8');
    } catch (err) {
      throw new StateUrlError(`cannot read password_file ${passwordFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return text.split(/\r?\n/)[0] ?? '';
  }
  if (url.password !== undefined) return url.password;
  return env.PGPASSWORD;
}

/** Options for the `pg` client. */
export function clientConfig(url: StateUrl, password: string | undefined, applicationName: string): ClientConfig {
  return {
    user: url.user,
    host: url.host,
    port: url.port,
    database: url.database,
    password,
    application_name: applicationName.slice(0, 63),
    // A dead peer (a network cut) is noticed by the kernel within seconds.
    keepAlive: true,
    keepAliveInitialDelayMillis: 1000,
    connectionTimeoutMillis: 5000,
    // No statement may hang the node: a lost database answers with an error.
    statement_timeout: 10_000,
    query_timeout: 15_000,
  };
}
