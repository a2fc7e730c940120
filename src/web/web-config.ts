import type { ConfigSet } from '../config/config-set.js';
import type { ListenAddress } from '../config/service-config.js';
import { SectionReader, formatListenAddress } from '../config/values.js';

/** `[web]` of fleetban.conf: the status page. */
export interface WebConfig {
  enabled: boolean;
  /** Its own address; absent: on the `[metrics] listen` address, beside /metrics. */
  listen?: ListenAddress;
  /** Unban and ban buttons (they need token_file). */
  writes: boolean;
  /** A file holding the token that logs in; with it, every page and call needs a login. */
  tokenFile?: string;
  /** Serve the page without a login on an address other than loopback (never the default). */
  allowAnonymous: boolean;
  /** How long the per-minute history, attackers and lines are kept, seconds. */
  historySeconds: number;
}

/** The shortest history the page promises (its plots go back a week; two for comparison). */
export const MIN_HISTORY_SECONDS = 14 * 86400;

export function readWebConfig(conf: ConfigSet): WebConfig {
  const web = new SectionReader(conf, 'web');
  const listen = web.addresses('listen');
  if (listen.length > 1) throw conf.error('web', 'listen', 'one address only');
  const cfg: WebConfig = {
    enabled: web.bool('enabled', true),
    writes: web.bool('writes', false),
    tokenFile: web.optionalString('token_file'),
    allowAnonymous: web.bool('allow_anonymous', false),
    historySeconds: web.duration('history', MIN_HISTORY_SECONDS),
  };
  if (listen[0]) cfg.listen = listen[0];
  if (cfg.historySeconds < 3600) throw conf.error('web', 'history', 'expected at least 1h');
  if (cfg.writes && !cfg.tokenFile) {
    throw conf.error('web', 'writes', 'writes = yes needs token_file: the ban and unban buttons are never open to anyone who can reach the page');
  }
  if (cfg.enabled && cfg.listen && webRefusal(cfg, cfg.listen)) throw conf.error('web', 'listen', webRefusal(cfg, cfg.listen)!);
  return cfg;
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * Why the page may not be served on `addr`, or null when it may: anyone who
 * reaches a non-loopback address would see every attacker and user name,
 * so that needs a token_file, or allow_anonymous = yes said on purpose.
 */
export function webRefusal(cfg: WebConfig, addr: ListenAddress): string | null {
  if (isLoopback(addr.host) || cfg.tokenFile || cfg.allowAnonymous) return null;
  return `the status page on ${formatListenAddress(addr)} (not loopback) needs token_file, or allow_anonymous = yes to serve it without a login`;
}

/** Where the page is served: its own address, else the metrics address; null when off or refused. */
export function webAddress(cfg: WebConfig, metrics: ListenAddress | undefined): ListenAddress | null {
  if (!cfg.enabled) return null;
  const addr = cfg.listen ?? metrics;
  if (!addr || webRefusal(cfg, addr)) return null;
  return addr;
}

/**
 * What `fleetban check-config` warns about the page: served to a network
 * without a login, or not served because it would have been.
 */
export function webWarnings(cfg: WebConfig, metrics: ListenAddress | undefined): string[] {
  if (!cfg.enabled) return [];
  const addr = cfg.listen ?? metrics;
  if (!addr) return [];
  const where = formatListenAddress(addr);
  const refusal = webRefusal(cfg, addr);
  if (refusal) return [`[web] ${refusal}; it is not served (only /metrics is)`];
  if (!isLoopback(addr.host) && !cfg.tokenFile && cfg.allowAnonymous) {
    return [`[web] allow_anonymous = yes: the status page on ${where} shows every attacker and user name tried to anyone who reaches it`];
  }
  return [];
}
