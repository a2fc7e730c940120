import { isAbsolute, resolve } from 'node:path';
import { parseIp } from '../net/address.js';
import { ConfigSet } from './config-set.js';
import { SectionReader, splitList } from './values.js';

/**
 * How fleetban drives a mail server:
 * - `shell`: the session runs /bin/sh; fleetban sends the jail's action.d
 *   commands, rendered (tags replaced, log text quoted).
 * - `fleetban-remote`: the key is bound on the server to the forced command
 *   fleetban-remote (packaging/remote/), which takes `ban JAIL IP` lines and
 *   runs its own local action. A stolen key can then ban and unban, nothing else.
 */
/** `local`: fleetban's own pseudo-hosts `central/NAME` (central actions), never written in fleet.conf. */
export type FleetDriver = 'shell' | 'fleetban-remote' | 'local';
export const FLEET_DRIVERS: readonly FleetDriver[] = ['shell', 'fleetban-remote'];

/** One mail server of fleet.conf. */
export interface FleetHost {
  /** The section name: how logs, jails (`scope = origin`) and `fleetban hosts` call it. */
  name: string;
  /** IP address or DNS name to connect to. */
  address: string;
  port: number;
  user: string;
  /** Private key file; unset: the ssh client's defaults (agent, ~/.ssh/id_*). */
  identity?: string;
  /** known_hosts file checked strictly; unset: the ssh client's defaults. */
  knownHosts?: string;
  groups: string[];
  /** ProxyJump: `[user@]host[:port]`. */
  jump?: string;
  driver: FleetDriver;
  /** A command not acknowledged within this is taken as a hung session. */
  timeoutMs: number;
  /** TCP connect, SSH handshake and login, together. */
  connectTimeoutMs: number;
  /** ssh's ServerAliveInterval, seconds: how soon a dead link is noticed while idle. */
  aliveIntervalS: number;
}

const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/;
const USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const GROUP = /^[A-Za-z0-9_.-]+$/;
const JUMP = /^(?:([A-Za-z_][A-Za-z0-9_.-]{0,31})@)?([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

/** fleet.conf, fleet.d/*.conf, fleet.local, fleet.d/*.local under `confDir`. */
export function readFleet(confDir: string): FleetHost[] {
  return fleetFrom(ConfigSet.readStack(confDir, 'fleet'), confDir);
}

/**
 * The hosts of an already read set. Relative key paths are relative to
 * `confDir`, where an administrator keeps them next to fleet.conf.
 */
export function fleetFrom(conf: ConfigSet, confDir = '.'): FleetHost[] {
  const hosts: FleetHost[] = [];
  const addresses = new Map<string, string>();
  for (const name of conf.sections()) {
    const r = new SectionReader(conf, name);
    if (!HOST_NAME.test(name)) {
      throw conf.error(name, 'address', `host name ${JSON.stringify(name)}: use letters, digits, '_', '.' and '-' (at most 64)`);
    }
    if (name === 'central') {
      throw conf.error(name, 'address', 'the host name "central" is the central host itself (where central_action runs, shown in fleetban banned): name the mail server otherwise');
    }
    const address = r.optionalString('address');
    if (!address) throw conf.error(name, 'address', 'every host needs an address');
    // The address becomes an ssh argument: an IP or a DNS name, nothing an option could hide in.
    if (!parseIp(address) && !DNS_NAME.test(address)) {
      throw conf.error(name, 'address', `expected an IP address or a DNS name, not ${JSON.stringify(address)}`);
    }
    const port = r.int('port', 22, 1, 65535);
    const seen = addresses.get(`${address}:${port}`);
    if (seen) throw conf.error(name, 'address', `${address} port ${port} is already host ${seen}`);
    addresses.set(`${address}:${port}`, name);
    const user = r.string('user', 'root').trim();
    if (!USER.test(user)) throw conf.error(name, 'user', `not a user name: ${JSON.stringify(user)}`);
    const groups = splitList(conf.get(name, 'groups') ?? '');
    for (const g of groups) {
      if (!GROUP.test(g)) throw conf.error(name, 'groups', `not a group name: ${JSON.stringify(g)}`);
    }
    const jump = r.optionalString('jump');
    if (jump !== undefined) {
      const m = JUMP.exec(jump);
      if (!m || (m[3] !== undefined && (Number(m[3]) < 1 || Number(m[3]) > 65535))) {
        throw conf.error(name, 'jump', `expected [user@]host[:port], not ${JSON.stringify(jump)}`);
      }
    }
    const path = (key: string): string | undefined => {
      const v = r.optionalString(key);
      return v === undefined ? undefined : isAbsolute(v) ? v : resolve(confDir, v);
    };
    const timeout = r.duration('timeout', 10);
    const connectTimeout = r.duration('connect_timeout', 10);
    const alive = r.duration('alive_interval', 5);
    for (const [key, v] of [['timeout', timeout], ['connect_timeout', connectTimeout], ['alive_interval', alive]] as const) {
      if (!(v > 0)) throw conf.error(name, key, 'must be more than 0 seconds');
    }
    const host: FleetHost = {
      name,
      address,
      port,
      user,
      groups,
      driver: r.choice('driver', 'shell', FLEET_DRIVERS),
      timeoutMs: Math.round(timeout * 1000),
      connectTimeoutMs: Math.round(connectTimeout * 1000),
      aliveIntervalS: Math.max(1, Math.round(alive)),
    };
    const identity = path('identity');
    if (identity) host.identity = identity;
    const knownHosts = path('known_hosts');
    if (knownHosts) host.knownHosts = knownHosts;
    if (jump) host.jump = jump;
    hosts.push(host);
  }
  return hosts;
}
