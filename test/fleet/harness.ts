import Database from 'better-sqlite3';
import pino from 'pino';
import { resolve } from 'node:path';
import { readAction, type ActionSpec } from '../../src/config/action-reader.js';
import type { FleetHost } from '../../src/config/fleet-reader.js';
import type { Ban } from '../../src/bans/ban.js';
import { FleetDispatcher, type SettledEvent } from '../../src/fleet/fleet-dispatcher.js';
import { LedgerStore, type LedgerStatus } from '../../src/fleet/ledger.js';
import type { Scope } from '../../src/bans/scope.js';
import { migrate } from '../../src/state/migrations.js';
import { waitFor } from '../helpers/netns-fleet.js';

export const ACTION_DIR = resolve(import.meta.dirname, '../../conf/action.d');

/** A shipped action for a jail, as the service resolves `action = NAME[params]`. */
export function shippedAction(name: string, jail: string, params: Record<string, string> = {}): ActionSpec {
  return readAction(ACTION_DIR, { name, params }, jail);
}

/** The state database's schema, in memory or in a file. */
export function openStateDb(file = ':memory:'): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  migrate(db);
  return db;
}

export function testLogger(): pino.Logger {
  return pino({ level: process.env.FLEET_LOG ?? 'silent' }, pino.destination(2));
}

/**
 * The fleet dispatcher with what the service gives it: a ledger on the state
 * database, the jails' actions, and the active bans (kept here in a map, as
 * the service keeps them in its bans table).
 */
export class FleetHarness {
  readonly db: Database.Database;
  readonly ledger: LedgerStore;
  readonly active = new Map<string, Ban>();
  readonly dispatcher: FleetDispatcher;
  readonly settled: SettledEvent[] = [];

  constructor(
    hosts: FleetHost[],
    readonly actions: Record<string, ActionSpec[]>,
    o: { db?: Database.Database; reconcileIntervalMs?: number } = {},
  ) {
    this.db = o.db ?? openStateDb();
    this.ledger = new LedgerStore(this.db);
    this.dispatcher = new FleetDispatcher({
      hosts,
      actions: (jail) => this.actions[jail] ?? [],
      ledger: this.ledger,
      logger: testLogger(),
      reconcileIntervalMs: o.reconcileIntervalMs ?? 0,
      activeBans: () => this.active.values(),
    });
    this.dispatcher.on('settled', (e: SettledEvent) => this.settled.push(e));
  }

  start(): this {
    this.dispatcher.start();
    return this;
  }

  ban(
    jail: string,
    ip: string,
    o: { bantimeS?: number; scope?: Scope; origins?: string[]; fields?: Record<string, string> } = {},
  ): Ban {
    const since = Date.now();
    const d: Ban = {
      jail,
      ip,
      since,
      until: o.bantimeS === undefined ? since + 600_000 : o.bantimeS < 0 ? null : since + o.bantimeS * 1000,
      count: 1,
      failures: 5,
      scope: o.scope ?? { kind: 'fleet' },
      origins: o.origins ?? [],
      fields: o.fields ?? {},
      matches: [],
      manual: false,
    };
    // As the service does: the ban is stored before the fleet hears of it.
    this.active.set(`${jail}\u0000${ip}`, d);
    this.dispatcher.onBan(d);
    return d;
  }

  unban(jail: string, ip: string): void {
    const d = this.active.get(`${jail}\u0000${ip}`);
    this.active.delete(`${jail}\u0000${ip}`);
    this.dispatcher.onUnban({ jail, ip, scope: d?.scope ?? { kind: 'fleet' }, origins: d?.origins ?? [] }, 'expired');
  }

  hostsOf(jail: string, ip: string): Record<string, LedgerStatus> {
    return this.ledger.hostsOf(jail, ip);
  }

  /** Wait until the ledger says `status` for the ban on each of `hosts`. */
  async until(jail: string, ip: string, hosts: string[], status: LedgerStatus, ms = 15_000): Promise<void> {
    await waitFor(`${jail} ${ip} ${status} on ${hosts.join(',')}`, () => {
      const h = this.hostsOf(jail, ip);
      return hosts.every((n) => h[n] === status) ? true : JSON.stringify(h);
    }, ms);
  }

  /** Wait until no row of the ban is left on any host (its unban was acknowledged everywhere). */
  async gone(jail: string, ip: string, ms = 15_000): Promise<void> {
    await waitFor(`${jail} ${ip} unbanned everywhere`, () => {
      const rows = this.db.prepare('SELECT host, want, status FROM ledger WHERE jail = ? AND ip = ?').all(jail, ip);
      return rows.length === 0 ? true : JSON.stringify(rows);
    }, ms);
  }

  async stop(): Promise<void> {
    await this.dispatcher.stop();
  }
}
