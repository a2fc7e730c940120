import type Database from 'better-sqlite3';
import type { Awaitable } from '../state/state-store.js';

/**
 * The per-host ledger: for every (host, jail, ip) what the host should have
 * (`want`) and whether it has acknowledged it (`status`). A row is written
 * before its command is sent, so a crash at any moment leaves the ledger
 * saying "pending", and reconciliation sends it again. An unban that the host
 * acknowledged deletes the row: no row means nothing on the host.
 *
 * The table is created by the state database's first migration:
 *   ledger(host, jail, ip, want ban|unban, status pending|applied|failed,
 *          error, attempts, updated, PRIMARY KEY (host, jail, ip))
 */

export type LedgerWant = 'ban' | 'unban';
export type LedgerStatus = 'pending' | 'applied' | 'failed';

export interface LedgerKey {
  host: string;
  jail: string;
  ip: string;
}

export interface LedgerRow extends LedgerKey {
  want: LedgerWant;
  status: LedgerStatus;
  error: string | null;
  attempts: number;
  /** ms since the epoch. */
  updated: number;
}

/** What a host answered to one command. */
export interface LedgerOutcome extends LedgerKey {
  want: LedgerWant;
  ok: boolean;
  /** The host's error text when not ok. */
  error?: string;
}

/** Row counts of one host, for `fleetban hosts`. */
export interface LedgerCounts {
  pending: number;
  applied: number;
  failed: number;
}

/**
 * Where the ledger lives: the state backend provides it (StateStore.ledger).
 * LedgerStore below is the SQLite one; src/cluster/ holds the PostgreSQL one,
 * whose writes carry the leader's fencing epoch and fail with FencedError
 * once another node leads. Results are Awaitable for that backend: the
 * SQLite one answers at once. A row is always written before its command is
 * sent, whatever the backend.
 */
export interface LedgerStorage {
  /** Record what hosts should have, in one transaction; per item whether a command must go out. */
  record(items: (LedgerKey & { want: LedgerWant })[]): Awaitable<boolean[]>;
  /** Store what the hosts answered (an answer for a want changed since changes nothing). */
  settle(outcomes: LedgerOutcome[]): Awaitable<void>;
  /** Commands sent but never answered: still pending, one attempt more. */
  interrupted(items: (LedgerKey & { want: LedgerWant })[], error: string): Awaitable<void>;
  /** Commands the host hung on: failed after MAX_TIMEOUTS attempts. */
  timedOut(items: (LedgerKey & { want: LedgerWant })[], error: string): Awaitable<void>;
  /** The host lost what it had: its applied bans (of one jail, or all) are pending again; returns how many. */
  reopen(host: string, jail?: string): Awaitable<number>;
  get(key: LedgerKey): Awaitable<LedgerRow | undefined>;
  /** Every row of a host. */
  rows(host: string): Awaitable<Iterable<LedgerRow>>;
  /** Rows of a host still to be sent: pending, or failed. */
  outstanding(host: string): Awaitable<LedgerRow[]>;
  /** Per host, the state of one ban. */
  hostsOf(jail: string, ip: string): Awaitable<Record<string, LedgerStatus>>;
  /** The same for every ban, keyed `jail + "\0" + ip`. */
  allHosts(): Awaitable<Map<string, Record<string, LedgerStatus>>>;
  counts(): Awaitable<Map<string, LedgerCounts>>;
  /** After a flush on the host: nothing of that jail is there any more. */
  forgetJail(host: string, jail: string): Awaitable<void>;
  bootId(host: string): Awaitable<string | undefined>;
  setBootId(host: string, bootId: string): Awaitable<void>;
}

/** Attempts that ended in a timeout before a command counts as failed. */
export const MAX_TIMEOUTS = 3;

/** Error texts are kept short: they are for an administrator's eye. */
const MAX_ERROR = 500;

/** The ledger in the SQLite state file, on the state's own connection. */
export class LedgerStore implements LedgerStorage {
  private readonly st: ReturnType<LedgerStore['prepare']>;
  private readonly recordMany: (items: (LedgerKey & { want: LedgerWant })[]) => boolean[];
  private readonly settleMany: (items: LedgerOutcome[]) => void;
  private readonly interruptMany: (items: (LedgerKey & { want: LedgerWant })[], error: string) => void;
  private readonly timeoutMany: (items: (LedgerKey & { want: LedgerWant })[], error: string) => void;

  constructor(
    readonly db: Database.Database,
    private readonly clock: () => number = Date.now,
  ) {
    this.st = this.prepare();
    this.recordMany = db.transaction((items: (LedgerKey & { want: LedgerWant })[]) =>
      items.map((i) => this.recordOne(i.host, i.jail, i.ip, i.want)),
    );
    this.settleMany = db.transaction((items: LedgerOutcome[]) => {
      const now = this.clock();
      for (const o of items) {
        if (o.ok && o.want === 'ban') this.st.applied.run(now, o.host, o.jail, o.ip);
        else if (o.ok) this.st.deleteUnban.run(o.host, o.jail, o.ip);
        else this.st.failed.run(trimError(o.error ?? 'failed'), now, o.host, o.jail, o.ip, o.want);
      }
    });
    this.interruptMany = db.transaction((items: (LedgerKey & { want: LedgerWant })[], error: string) => {
      const now = this.clock();
      for (const i of items) this.st.interrupted.run(trimError(error), now, i.host, i.jail, i.ip, i.want);
    });
    this.timeoutMany = db.transaction((items: (LedgerKey & { want: LedgerWant })[], error: string) => {
      const now = this.clock();
      for (const i of items) this.st.timedOut.run(trimError(error), now, MAX_TIMEOUTS, i.host, i.jail, i.ip, i.want);
    });
  }

  private prepare() {
    const db = this.db;
    return {
      get: db.prepare<[string, string, string], LedgerRow>('SELECT * FROM ledger WHERE host = ? AND jail = ? AND ip = ?'),
      ban: db.prepare(
        `INSERT INTO ledger (host, jail, ip, want, status, error, attempts, updated) VALUES (?, ?, ?, 'ban', 'pending', NULL, 0, ?)
         ON CONFLICT (host, jail, ip) DO UPDATE SET want = 'ban', status = 'pending', error = NULL, attempts = 0, updated = excluded.updated
         WHERE NOT (ledger.want = 'ban' AND ledger.status = 'applied')`,
      ),
      unban: db.prepare(
        `UPDATE ledger SET want = 'unban', status = 'pending', error = NULL, attempts = 0, updated = ?
         WHERE host = ? AND jail = ? AND ip = ? AND want = 'ban'`,
      ),
      applied: db.prepare(
        `UPDATE ledger SET status = 'applied', error = NULL, attempts = attempts + 1, updated = ?
         WHERE host = ? AND jail = ? AND ip = ? AND want = 'ban'`,
      ),
      deleteUnban: db.prepare(`DELETE FROM ledger WHERE host = ? AND jail = ? AND ip = ? AND want = 'unban'`),
      failed: db.prepare(
        `UPDATE ledger SET status = 'failed', error = ?, attempts = attempts + 1, updated = ?
         WHERE host = ? AND jail = ? AND ip = ? AND want = ?`,
      ),
      interrupted: db.prepare(
        `UPDATE ledger SET error = ?, attempts = attempts + 1, updated = ?
         WHERE host = ? AND jail = ? AND ip = ? AND want = ?`,
      ),
      timedOut: db.prepare(
        `UPDATE ledger SET error = ?, updated = ?, attempts = attempts + 1,
           status = CASE WHEN attempts + 1 >= ? THEN 'failed' ELSE status END
         WHERE host = ? AND jail = ? AND ip = ? AND want = ?`,
      ),
      reopenHost: db.prepare(`UPDATE ledger SET status = 'pending', updated = ? WHERE host = ? AND want = 'ban' AND status = 'applied'`),
      reopenJail: db.prepare(
        `UPDATE ledger SET status = 'pending', updated = ? WHERE host = ? AND jail = ? AND want = 'ban' AND status = 'applied'`,
      ),
      ofHost: db.prepare<[string], LedgerRow>('SELECT * FROM ledger WHERE host = ?'),
      outstanding: db.prepare<[string], LedgerRow>(`SELECT * FROM ledger WHERE host = ? AND status != 'applied'`),
      jailsOfHost: db.prepare<[string], { jail: string }>('SELECT DISTINCT jail FROM ledger WHERE host = ?'),
      ofBan: db.prepare<[string, string], { host: string; want: LedgerWant; status: LedgerStatus }>(
        'SELECT host, want, status FROM ledger WHERE jail = ? AND ip = ?',
      ),
      all: db.prepare<[], { host: string; jail: string; ip: string; want: LedgerWant; status: LedgerStatus }>(
        'SELECT host, jail, ip, want, status FROM ledger',
      ),
      counts: db.prepare<[], { host: string; status: LedgerStatus; n: number }>(
        'SELECT host, status, count(*) AS n FROM ledger GROUP BY host, status',
      ),
      deleteJail: db.prepare('DELETE FROM ledger WHERE host = ? AND jail = ?'),
      bootGet: db.prepare<[string], { boot_id: string }>('SELECT boot_id FROM fleet_host WHERE host = ?'),
      bootSet: db.prepare(
        `INSERT INTO fleet_host (host, boot_id, updated) VALUES (?, ?, ?)
         ON CONFLICT (host) DO UPDATE SET boot_id = excluded.boot_id, updated = excluded.updated`,
      ),
    };
  }

  private recordOne(host: string, jail: string, ip: string, want: LedgerWant): boolean {
    const now = this.clock();
    if (want === 'ban') return this.st.ban.run(host, jail, ip, now).changes > 0;
    return this.st.unban.run(now, host, jail, ip).changes > 0;
  }

  /**
   * Record what hosts should have, in one transaction, before anything is
   * sent. Returns per item whether a command must go out: a ban already
   * applied, or an unban of something the host never got, needs none.
   */
  record(items: (LedgerKey & { want: LedgerWant })[]): boolean[] {
    return items.length ? this.recordMany(items) : [];
  }

  /**
   * Store what the hosts answered. An answer for a want that has changed
   * since (a ban acknowledged after its unban was recorded) changes nothing:
   * the newer want is still to be sent.
   */
  settle(outcomes: LedgerOutcome[]): void {
    if (outcomes.length) this.settleMany(outcomes);
  }

  /** Commands sent but never answered (session lost, timeout): still pending, one attempt more. */
  interrupted(items: (LedgerKey & { want: LedgerWant })[], error: string): void {
    if (items.length) this.interruptMany(items, error);
  }

  /**
   * A command the host hung on. After MAX_TIMEOUTS attempts it counts as
   * failed: it is then tried again at each reconciliation interval instead
   * of at every reconnection, so one command that hangs cannot keep a host's
   * session from serving the rest.
   */
  timedOut(items: (LedgerKey & { want: LedgerWant })[], error: string): void {
    if (items.length) this.timeoutMany(items, error);
  }

  /**
   * The host lost what it had (it rebooted, or an action's check failed and
   * its start ran again): its applied bans are pending again, of one jail or all.
   */
  reopen(host: string, jail?: string): number {
    const now = this.clock();
    return (jail === undefined ? this.st.reopenHost.run(now, host) : this.st.reopenJail.run(now, host, jail)).changes;
  }

  get(key: LedgerKey): LedgerRow | undefined {
    return this.st.get.get(key.host, key.jail, key.ip);
  }

  /** Every row of a host. */
  rows(host: string): IterableIterator<LedgerRow> {
    return this.st.ofHost.iterate(host);
  }

  /** Rows of a host still to be sent: pending, or failed (retried at each reconciliation). */
  outstanding(host: string): LedgerRow[] {
    return this.st.outstanding.all(host);
  }

  jails(host: string): string[] {
    return this.st.jailsOfHost.all(host).map((r) => r.jail);
  }

  /** Per host, the state of one ban: what `fleetban banned --json` shows as `hosts`. */
  hostsOf(jail: string, ip: string): Record<string, LedgerStatus> {
    const out: Record<string, LedgerStatus> = {};
    for (const r of this.st.ofBan.iterate(jail, ip)) if (r.want === 'ban') out[r.host] = r.status;
    return out;
  }

  /** The same for every ban at once, keyed `jail + "\0" + ip` (one query for a whole listing). */
  allHosts(): Map<string, Record<string, LedgerStatus>> {
    const out = new Map<string, Record<string, LedgerStatus>>();
    for (const r of this.st.all.iterate()) {
      if (r.want !== 'ban') continue;
      const k = `${r.jail}\u0000${r.ip}`;
      let m = out.get(k);
      if (!m) out.set(k, (m = {}));
      m[r.host] = r.status;
    }
    return out;
  }

  counts(): Map<string, LedgerCounts> {
    const out = new Map<string, LedgerCounts>();
    for (const r of this.st.counts.iterate()) {
      let c = out.get(r.host);
      if (!c) out.set(r.host, (c = { pending: 0, applied: 0, failed: 0 }));
      c[r.status] = r.n;
    }
    return out;
  }

  /** After a flush on the host: nothing of that jail is there any more. */
  forgetJail(host: string, jail: string): void {
    this.st.deleteJail.run(host, jail);
  }

  bootId(host: string): string | undefined {
    return this.st.bootGet.get(host)?.boot_id;
  }

  setBootId(host: string, bootId: string): void {
    this.st.bootSet.run(host, bootId, this.clock());
  }
}

function trimError(e: string): string {
  const t = e.trim();
  return t.length > MAX_ERROR ? `${t.slice(0, MAX_ERROR - 3)}...` : t;
}
