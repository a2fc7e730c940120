import pino from 'pino';
import { ConfigSet } from '../../src/config/config-set.js';
import { jailsFrom } from '../../src/config/jail-reader.js';
import type { BanListener, UnbanReason } from '../../src/jails/jail-manager.js';
import { JailManager } from '../../src/jails/jail-manager.js';
import type { JailConfig } from '../../src/jails/jail-config.js';
import type { BanDecision, Scope } from '../../src/model/ban-decision.js';
import type { LogEvent } from '../../src/model/log-event.js';
import { CidrSet } from '../../src/net/cidr-set.js';
import { SqliteStateStore } from '../../src/state/sqlite-state-store.js';

/** Jails written as an administrator writes jail.local. */
export function jails(text: string): JailConfig[] {
  return jailsFrom(ConfigSet.fromString(text, 'jail.local'));
}

export const T0 = Date.parse('2025-03-01T12:00:00Z');

/** A clock the test moves by hand. */
export class Clock {
  t = T0;
  now = (): number => this.t;
  advance(seconds: number): void {
    this.t += seconds * 1000;
  }
}

export interface Unban {
  jail: string;
  ip: string;
  scope: Scope;
  origins: string[];
  reason: UnbanReason;
}

/** A listener that remembers what it heard, in order. */
export function recorder(): BanListener & { bans: BanDecision[]; unbans: Unban[] } {
  const bans: BanDecision[] = [];
  const unbans: Unban[] = [];
  return {
    bans,
    unbans,
    onBan: (d) => {
      bans.push(d);
    },
    onUnban: (jail, ip, scope, origins, reason) => {
      unbans.push({ jail, ip, scope, origins, reason });
    },
  };
}

export const silent = pino({ level: 'silent' });

export function setup(
  jailText: string,
  o: { state?: SqliteStateStore; clock?: Clock; neverBan?: string[]; resolver?: (n: string) => Promise<string[]>; dbPurgeAge?: number; failureRowsPerFlush?: number } = {},
) {
  const clock = o.clock ?? new Clock();
  const state = o.state ?? SqliteStateStore.open(':memory:', { flushMs: 0 });
  const listener = recorder();
  const neverBan = new CidrSet();
  for (const n of o.neverBan ?? []) neverBan.add(n);
  const manager = new JailManager({
    state,
    jails: jails(jailText),
    listener,
    neverBan,
    logger: silent,
    now: clock.now,
    timers: false,
    resolver: o.resolver ?? (async () => []),
    random: () => 0.5,
    dbPurgeAge: o.dbPurgeAge,
    failureRowsPerFlush: o.failureRowsPerFlush,
  });
  manager.start();
  /** One failed login of `ip` seen on `origin`, stamped `stamp` (default: now). */
  const fail = (jail: string, ip: string, origin = 'mx1', stamp?: number, line = `auth failed from ${ip}`) => {
    const ev: LogEvent = {
      time: stamp ?? clock.t,
      received: clock.t,
      source: 'udp',
      origin,
      message: line,
      raw: line,
    };
    manager.onMatch(jail, { ip, time: stamp ?? clock.t, fields: { user: 'bob' }, line }, ev);
  };
  return { clock, state, listener, manager, fail };
}
