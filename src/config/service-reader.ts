import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseCidr } from '../net/address.js';
import { Timezone } from '../syslog/timezone.js';
import { ConfigSet } from './config-set.js';
import type { ListenConfig, ServiceConfig, StateConfig } from './service-config.js';
import { SectionReader } from './values.js';
import { readWebConfig } from '../web/web-config.js';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
const JOURNAL = ['auto', 'yes', 'no'] as const;
const STATE_BACKENDS = ['sqlite', 'postgresql'] as const;
/** Node names go into logs, metrics labels and the database: keep them plain. */
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/**
 * Read fleetban.conf (and fleetban.local, fleetban.d/) from `confDir` into a
 * validated ServiceConfig. Relative paths are relative to the working
 * directory, so the repository's `conf/` keeps its state under `./var`.
 */
export function readServiceConfig(confDir: string): ServiceConfig {
  const conf = ConfigSet.readStack(confDir, 'fleetban');
  return serviceConfigFrom(conf);
}

/**
 * `[fleetban] statedir` and `socket` alone, resolved against the working
 * directory. The CLI's control verbs read only these, so `fleetban status`
 * still works when another part of fleetban.conf has a mistake.
 */
export function statePaths(conf: ConfigSet): { stateDir: string; socket: string } {
  const main = new SectionReader(conf, 'fleetban');
  const stateDir = resolve(main.string('statedir', 'var').trim() || 'var');
  return { stateDir, socket: resolve(main.string('socket', '').trim() || `${stateDir}/fleetban.sock`) };
}

/** `[listen]` with every key at its default and no listener: where tests and benchmarks start. */
export function defaultListenConfig(): ListenConfig {
  return serviceConfigFrom(ConfigSet.fromString('', '<defaults>')).listen;
}

export function serviceConfigFrom(conf: ConfigSet): ServiceConfig {
  const main = new SectionReader(conf, 'fleetban');
  const listen = new SectionReader(conf, 'listen');
  const journal = new SectionReader(conf, 'journal');
  const metrics = new SectionReader(conf, 'metrics');

  const { stateDir, socket } = statePaths(conf);
  const tz = listen.list('timezone').map((item) => {
    const eq = item.lastIndexOf('=');
    const cidr = eq > 0 ? item.slice(0, eq) : '';
    if (!parseCidr(cidr) || eq === item.length - 1) {
      throw conf.error('listen', 'timezone', `expected CIDR=ZONE (e.g. 198.18.0.0/16=UTC), not ${JSON.stringify(item)}`);
    }
    const tz = item.slice(eq + 1);
    try {
      Timezone.parse(tz);
    } catch (err) {
      throw conf.error('listen', 'timezone', (err as Error).message);
    }
    return { cidr, tz };
  });
  const state = stateConfigFrom(conf);
  const metricsListen = metrics.addresses('listen');
  if (metricsListen.length > 1) throw conf.error('metrics', 'listen', 'one address only');

  const cfg: ServiceConfig = {
    stateDir,
    socket,
    logLevel: main.choice('loglevel', 'info', LOG_LEVELS),
    reconcileInterval: main.duration('reconcile_interval', 60),
    dbPurgeAge: main.duration('dbpurgeage', 86400),
    listen: {
      udp: listen.addresses('udp'),
      tcp: listen.addresses('tcp'),
      tls: listen.addresses('tls'),
      tlsCert: listen.optionalString('tls.cert'),
      tlsKey: listen.optionalString('tls.key'),
      tlsCa: listen.optionalString('tls.ca'),
      allowedSenders: listen.cidrs('allowed_senders'),
      maxFrame: listen.size('maxframe', 64 * 1024),
      recvBufferSize: listen.size('recvbuffer', 4 * 1024 * 1024),
      maxConnections: listen.int('max_connections', 1024, 1),
      maxConnectionsPerSender: listen.int('max_connections_per_sender', 64, 1),
      idleTimeoutMs: listen.duration('idle_timeout', 600) * 1000,
      senderTimezones: tz,
    },
    journal: {
      enabled: journal.choice('enabled', 'auto', JOURNAL),
      directory: journal.optionalString('directory'),
      file: journal.optionalString('file'),
      sinceSeconds: journal.duration('since', 0),
    },
    metrics: metricsListen[0] ? { listen: metricsListen[0] } : {},
    state,
    web: readWebConfig(conf),
  };
  if (cfg.listen.tls.length > 0 && (!cfg.listen.tlsCert || !cfg.listen.tlsKey)) {
    throw conf.error('listen', 'tls', 'TLS listeners need tls.cert and tls.key');
  }
  return cfg;
}

/** `[state] backend`, `url`, `node`, `password_file`, `lease`, `standalone_after`. */
function stateConfigFrom(conf: ConfigSet): StateConfig {
  const state = new SectionReader(conf, 'state');
  const backend = state.choice('backend', 'sqlite', STATE_BACKENDS);
  // Read as written: a URL's %2F (a socket folder as host) is not configparser interpolation.
  const url = conf.getRaw('state', 'url')?.trim() || undefined;
  if (url !== undefined && !/^postgres(ql)?:\/\//.test(url)) {
    throw conf.error('state', 'url', 'expected postgresql://USER@HOST/DB');
  }
  if (backend === 'postgresql' && url === undefined) {
    throw conf.error('state', 'backend', 'backend = postgresql needs url = postgresql://USER@HOST/DB');
  }
  const node = state.optionalString('node') ?? (hostname().split('.')[0] || 'fleetban');
  if (!NODE_NAME.test(node)) {
    throw conf.error('state', 'node', `expected a name of letters, digits, '.', '_' or '-' (up to 63), not ${JSON.stringify(node)}`);
  }
  const leaseS = state.duration('lease', 3);
  if (leaseS < 1) throw conf.error('state', 'lease', 'at least 1 second');
  const aloneS = state.duration('standalone_after', 60);
  if (aloneS !== 0 && aloneS < leaseS) throw conf.error('state', 'standalone_after', `0 (never) or at least the lease (${leaseS} s)`);
  const out: StateConfig = { backend, node, leaseMs: Math.round(leaseS * 1000), standaloneMs: Math.round(aloneS * 1000) };
  const pw = state.optionalString('password_file');
  if (pw !== undefined) out.passwordFile = resolve(pw);
  if (url !== undefined) out.url = url;
  return out;
}
