import pino from 'pino';
import { ConfigSet } from '../../src/config/config-set.js';
import { jailsFrom } from '../../src/config/jail-reader.js';
import type { Ban, UnbanReason } from '../../src/bans/ban.js';
import { BanBook, type BanSubscriber } from '../../src/bans/ban-book.js';
import type { Scope } from '../../src/bans/scope.js';
import { JailManager } from '../../src/jails/jail-manager.js';
import type { JailConfig } from '../../src/config/jail-config.js';
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

/** A subscriber of the ban book that remembers what it heard, in order. */
export function recorder(): { hear: BanSubscriber; bans: Ban[]; unbans: Unban[] } {
  const bans: Ban[] = [];
  const unbans: Unban[] = [];
  return {
    bans,
    unbans,
    hear: (e) => {
      if (e.kind === 'ban') bans.push(e.ban);
      else unbans.push({ jail: e.ban.jail, ip: e.ban.ip, scope: e.ban.scope, origins: e.ban.origins, reason: e.reason });
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
  const book = new BanBook({ state, logger: silent, now: clock.now, timers: false });
  book.subscribe(listener.hear);
  const neverBan = new CidrSet();
  for (const n of o.neverBan ?? []) neverBan.add(n);
  const manager = new JailManager({
    state,
    book,
    jails: jails(jailText),
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
  /** One second of the timers: the book lifts what expired, the jails sweep. */
  const tick = () => {
    book.expire();
    manager.tick();
  };
  /** The manager's answers with the SQLite store come at once. */
  const ban = (jail: string, ip: string) => manager.ban(jail, ip) as Ban;
  const unban = (jail: string | undefined, ip: string) => manager.unban(jail, ip) as number;
  return { clock, state, listener, book, manager, fail, tick, ban, unban };
}
