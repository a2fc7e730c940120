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
 * Bans by how they stand on the hosts they go to (rows with want = ban):
 * failed on some host, else pending on some host, else applied on all.
 */
export interface LedgerBanStates {
  acknowledged: number;
  pending: number;
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
  private readonly reopenTx: (host: string, jail: string | undefined) => number;
  private readonly forgetTx: (host: string, jail: string) => void;
  /** Rows per host and status, and bans per state, kept on each change (see LedgerTally). */
  private readonly tally = new LedgerTally();

  constructor(
    readonly db: Database.Database,
    private readonly clock: () => number = Date.now,
  ) {
    this.st = this.prepare();
    this.recordMany = this.guarded(
      db.transaction((items: (LedgerKey & { want: LedgerWant })[]) => items.map((i) => this.recordOne(i.host, i.jail, i.ip, i.want))),
    );
    this.settleMany = this.guarded(
      db.transaction((items: LedgerOutcome[]) => {
        const now = this.clock();
        for (const o of items) {
          const before = this.st.peek.get(o.host, o.jail, o.ip);
          let after: RowState | undefined;
          if (o.ok && o.want === 'ban') {
            if (this.st.applied.run(now, o.host, o.jail, o.ip).changes === 0) continue;
            after = { want: 'ban', status: 'applied' };
          } else if (o.ok) {
            if (this.st.deleteUnban.run(o.host, o.jail, o.ip).changes === 0) continue;
          } else {
            if (this.st.failed.run(trimError(o.error ?? 'failed'), now, o.host, o.jail, o.ip, o.want).changes === 0) continue;
            after = { want: o.want, status: 'failed' };
          }
          this.tally.move(o.host, o.jail, o.ip, before, after);
        }
      }),
    );
    // An interruption changes no status: nothing for the tally.
    this.interruptMany = db.transaction((items: (LedgerKey & { want: LedgerWant })[], error: string) => {
      const now = this.clock();
      for (const i of items) this.st.interrupted.run(trimError(error), now, i.host, i.jail, i.ip, i.want);
    });
    this.timeoutMany = this.guarded(
      db.transaction((items: (LedgerKey & { want: LedgerWant })[], error: string) => {
        const now = this.clock();
        for (const i of items) {
          const before = this.st.peek.get(i.host, i.jail, i.ip);
          if (this.st.timedOut.run(trimError(error), now, MAX_TIMEOUTS, i.host, i.jail, i.ip, i.want).changes === 0 || !before) continue;
          this.tally.move(i.host, i.jail, i.ip, before, { want: before.want, status: before.attempts + 1 >= MAX_TIMEOUTS ? 'failed' : before.status });
        }
      }),
    );
    this.reopenTx = this.guarded(
      db.transaction((host: string, jail: string | undefined) => {
        const now = this.clock();
        const rows = jail === undefined ? this.st.reopenHost.all(now, host) : this.st.reopenJail.all(now, host, jail);
        for (const r of rows) this.tally.move(host, r.jail, r.ip, { want: 'ban', status: 'applied' }, { want: 'ban', status: 'pending' });
        return rows.length;
      }),
    );
    this.forgetTx = this.guarded(
      db.transaction((host: string, jail: string) => {
        for (const r of this.st.deleteJail.all(host, jail)) this.tally.move(host, jail, r.ip, r, undefined);
      }),
    );
    this.recount();
    const stores = OPEN.get(db) ?? [];
    OPEN.set(db, [...stores, this]);
  }

  /**
   * Count the tally afresh from the table: two grouped queries, one pass
   * over the ledger. Done when the store opens and after a write of its own
   * failed (its transaction rolled back what the tally had already counted).
   */
  recount(): void {
    this.tally.clear();
    for (const r of this.st.countRows.iterate()) this.tally.addHost(r.host, r.status, r.n);
    for (const r of this.st.countBans.iterate()) this.tally.addBan(r.jail, r.ip, { pending: r.pending, applied: r.applied, failed: r.failed });
  }

  /**
   * Someone other than a LedgerStore rewrote the ledger table of `db` (the
   * cluster's import of PostgreSQL's state): every store on it counts again.
   */
  static tableReplaced(db: Database.Database): void {
    for (const s of OPEN.get(db) ?? []) s.recount();
  }

  /** A write of the store's own; when it throws, the tally is counted afresh before the error goes on. */
  private guarded<A extends unknown[], R>(f: (...a: A) => R): (...a: A) => R {
    return (...a: A) => {
      try {
        return f(...a);
      } catch (err) {
        this.recount();
        throw err;
      }
    };
  }

  private prepare() {
    const db = this.db;
    return {
      get: db.prepare<[string, string, string], LedgerRow>('SELECT * FROM ledger WHERE host = ? AND jail = ? AND ip = ?'),
      peek: db.prepare<[string, string, string], RowState & { attempts: number }>(
        'SELECT want, status, attempts FROM ledger WHERE host = ? AND jail = ? AND ip = ?',
      ),
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
      reopenHost: db.prepare<[number, string], { jail: string; ip: string }>(
        `UPDATE ledger SET status = 'pending', updated = ? WHERE host = ? AND want = 'ban' AND status = 'applied' RETURNING jail, ip`,
      ),
      reopenJail: db.prepare<[number, string, string], { jail: string; ip: string }>(
        `UPDATE ledger SET status = 'pending', updated = ? WHERE host = ? AND jail = ? AND want = 'ban' AND status = 'applied' RETURNING jail, ip`,
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
      countRows: db.prepare<[], { host: string; status: LedgerStatus; n: number }>(
        // NOT INDEXED: one scan of the table beats walking the primary key and looking up each row's status (measured: half the time).
        'SELECT host, status, count(*) AS n FROM ledger NOT INDEXED GROUP BY host, status',
      ),
      countBans: db.prepare<[], { jail: string; ip: string } & LedgerCounts>(
        `SELECT jail, ip, sum(status = 'pending') AS pending, sum(status = 'applied') AS applied, sum(status = 'failed') AS failed
         FROM ledger WHERE want = 'ban' GROUP BY jail, ip`,
      ),
      deleteJail: db.prepare<[string, string], RowState & { ip: string }>('DELETE FROM ledger WHERE host = ? AND jail = ? RETURNING ip, want, status'),
      bootGet: db.prepare<[string], { boot_id: string }>('SELECT boot_id FROM fleet_host WHERE host = ?'),
      bootSet: db.prepare(
        `INSERT INTO fleet_host (host, boot_id, updated) VALUES (?, ?, ?)
         ON CONFLICT (host) DO UPDATE SET boot_id = excluded.boot_id, updated = excluded.updated`,
      ),
    };
  }

  private recordOne(host: string, jail: string, ip: string, want: LedgerWant): boolean {
    const now = this.clock();
    const before = this.st.peek.get(host, jail, ip);
    const changed = (want === 'ban' ? this.st.ban.run(host, jail, ip, now) : this.st.unban.run(now, host, jail, ip)).changes > 0;
    if (changed) this.tally.move(host, jail, ip, before, { want, status: 'pending' });
    return changed;
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
    return this.reopenTx(host, jail);
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

  /** Rows per host and status, from the tally: O(hosts) however long the ledger (the page and /metrics read it often). */
  counts(): Map<string, LedgerCounts> {
    return this.tally.hostCounts();
  }

  /** Bans by how they stand on their hosts, from the tally (the page's overview reads it on every poll). */
  banStates(): LedgerBanStates {
    return { ...this.tally.states };
  }

  /** After a flush on the host: nothing of that jail is there any more. */
  forgetJail(host: string, jail: string): void {
    this.forgetTx(host, jail);
  }

  bootId(host: string): string | undefined {
    return this.st.bootGet.get(host)?.boot_id;
  }

  setBootId(host: string, bootId: string): void {
    this.st.bootSet.run(host, bootId, this.clock());
  }
}

/** The part of a row the tally follows. */
interface RowState {
  want: LedgerWant;
  status: LedgerStatus;
}

/** The stores open on each connection, for LedgerStore.tableReplaced. */
const OPEN = new WeakMap<Database.Database, LedgerStore[]>();

const none = (): LedgerCounts => ({ pending: 0, applied: 0, failed: 0 });

/** How one ban stands, from its rows' counts per status (undefined: no row wants it). */
function banStateOf(c: LedgerCounts): keyof LedgerBanStates | undefined {
  if (c.failed > 0) return 'failed';
  if (c.pending > 0) return 'pending';
  if (c.applied > 0) return 'acknowledged';
  return undefined;
}

/**
 * What the page and /metrics ask of the ledger on every poll, kept up to
 * date on each change instead of counted by a pass over every row (a second
 * with 100,000 bans on 10 hosts): rows per host and status, and for each
 * ban its rows per status, from which bans per state follow. Memory: one
 * small record per host and per ban with rows, as the book of bans holds.
 * (SQLite triggers would keep it too, but tripled the cost of a ledger write.)
 */
class LedgerTally {
  private readonly hosts = new Map<string, LedgerCounts>();
  private readonly bans = new Map<string, LedgerCounts>();
  readonly states: LedgerBanStates = { acknowledged: 0, pending: 0, failed: 0 };

  clear(): void {
    this.hosts.clear();
    this.bans.clear();
    this.states.acknowledged = this.states.pending = this.states.failed = 0;
  }

  /** One row went from `before` to `after` (undefined: no row). */
  move(host: string, jail: string, ip: string, before: RowState | undefined, after: RowState | undefined): void {
    if (before && after && before.want === after.want && before.status === after.status) return;
    if (before) this.add(host, jail, ip, before, -1);
    if (after) this.add(host, jail, ip, after, 1);
  }

  addHost(host: string, status: LedgerStatus, n: number): void {
    let h = this.hosts.get(host);
    if (!h) this.hosts.set(host, (h = none()));
    h[status] += n;
  }

  addBan(jail: string, ip: string, delta: LedgerCounts): void {
    const key = `${jail}\u0000${ip}`;
    let b = this.bans.get(key);
    if (!b) this.bans.set(key, (b = none()));
    const was = banStateOf(b);
    b.pending += delta.pending;
    b.applied += delta.applied;
    b.failed += delta.failed;
    const now = banStateOf(b);
    if (was !== now) {
      if (was) this.states[was]--;
      if (now) this.states[now]++;
    }
    if (!now) this.bans.delete(key);
  }

  private add(host: string, jail: string, ip: string, r: RowState, by: 1 | -1): void {
    this.addHost(host, r.status, by);
    if (r.want === 'ban') this.addBan(jail, ip, { ...none(), [r.status]: by });
  }

  /** Hosts with rows, as counts() always answered. */
  hostCounts(): Map<string, LedgerCounts> {
    const out = new Map<string, LedgerCounts>();
    for (const [host, c] of this.hosts) if (c.pending + c.applied + c.failed > 0) out.set(host, { ...c });
    return out;
  }
}

function trimError(e: string): string {
  const t = e.trim();
  return t.length > MAX_ERROR ? `${t.slice(0, MAX_ERROR - 3)}...` : t;
}
