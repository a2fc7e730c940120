import type { Ban, BanKey, UnbanReason } from '../bans/ban.js';
import type { LedgerStorage } from '../fleet/ledger.js';
import type { CursorStore } from './cursor-store.js';

/**
 * fleetban's state behind one interface, with two implementations chosen by
 * `[state] backend` in fleetban.conf:
 *
 * - `sqlite` (the default, sqlite-state-store.ts): one file, one process.
 *   Every method answers synchronously (better-sqlite3), so the jails'
 *   decision path never waits: counting stays in memory and failures are
 *   written behind, in one transaction per flush.
 * - a store shared by several nodes (PostgreSQL) would answer with
 *   promises and share failures between nodes in batches, never one round
 *   trip per failure. The cluster that exists (src/cluster/) takes another
 *   road: it keeps this SQLite store on every node, lets the leader alone
 *   run the jails and the fleet, and copies the leader's state to
 *   PostgreSQL (docs/bans.md, docs/cluster.md).
 *
 * Callers treat every `Awaitable` result as possibly a promise (see
 * `settle` below): the SQLite path then costs no microtask and the
 * PostgreSQL path is the same code.
 *
 * What each backend guarantees is in docs/bans.md; in short, for both:
 * a ban is stored before anyone hears of it (write-first, see commitBan);
 * there is at most one ban per jail and address; the ledger row of a host
 * is written before its command is sent.
 */
export interface StateStore {
  /** Which implementation this is (`status` shows it). */
  readonly backend: StateBackend;
  /** This node's name (`[state] node`, default the host name). One node for SQLite. */
  readonly node: string;

  // ---- bans ------------------------------------------------------------

  /**
   * Record a ban and its history row, and forget the failures that led to
   * it (on every node), atomically. Resolves once the ban is durable: only
   * then may the book announce it.
   *
   * Exactly one ban per jail and address: when one exists already (another
   * node crossed maxretry in the same instant, or a replay), nothing is
   * written and the result says `created: false` with the ban in force.
   * PostgreSQL enforces this with the primary key, not with a read first.
   */
  commitBan(ban: Ban, history: HistoryRecord): Awaitable<BanCommit>;

  /**
   * Delete bans (they ended). Returns how many existed. In a cluster the
   * other nodes hear of it in the change feed, with `reason`.
   */
  removeBans(keys: readonly BanKey[], reason: UnbanReason): Awaitable<number>;

  /** Every active ban of every node (restore at start, reconcile after a failover). */
  loadBans(): Awaitable<Ban[]>;

  // ---- ban history (bantime.increment), shared by all nodes ------------

  /** The last ban of `ip` in `jail`, if it is remembered. */
  history(jail: string, ip: string): Awaitable<HistoryRecord | undefined>;
  /** Earlier bans of `ip` in every jail (bantime.overalljails): their sum and the latest. */
  historyAllJails(ip: string): Awaitable<{ count: number; time: number } | undefined>;
  /** Addresses banned in `jail` since `since` (ms), with their ban counts. */
  historyOfJail(jail: string, since: number): Awaitable<{ ip: string; count: number }[]>;
  /** Forget history as fail2ban's dbpurgeage does (older than `before` and ended long ago); returns rows removed. */
  purgeHistory(before: number): Awaitable<number>;

  // ---- failures --------------------------------------------------------

  /**
   * Persist this node's failures of some addresses of `jail`, written
   * behind: called only from inside an `onFlush` callback. A record with no
   * times deletes the address's row. Each record is the whole list of this
   * node's failures of that address still inside findtime (a snapshot, not
   * a delta): writing it twice is harmless.
   */
  writeFailures(jail: string, records: readonly (FailureRecord | FailureDeletion)[]): void;

  /**
   * Failures of `jail` whose latest is at or after `since` (ms), of every
   * node (restore at start: a cluster node starts with the fleet's count).
   */
  loadFailures(jail: string, since: number): Awaitable<FailureRecord[]>;
  /** Forget failures of `jail` whose latest is before `before` (ms). */
  purgeFailures(jail: string, before: number): Awaitable<number>;
  /** Forget every failure of a jail (the jail was removed). */
  dropFailures(jail: string): Awaitable<void>;

  /**
   * True when failures must be shared with other nodes (PostgreSQL): the
   * jails then hand every failure they count to `shareFailures` as well.
   * False for SQLite, where a single node's memory is the whole count.
   */
  readonly sharesFailures: boolean;

  /**
   * Failures this node counted, for the other nodes to count too. Called on
   * the decision path, so an implementation only appends to a buffer here
   * and writes the buffer in batches (its flush, or a size limit). Other
   * nodes receive them through `changes` as `failures`, each exactly once,
   * and count them into their own windows: the count per jail and address
   * within findtime is then over all nodes, and whichever node crosses
   * maxretry first commits the ban (commitBan settles a tie).
   */
  shareFailures(jail: string, failures: readonly SharedFailure[]): void;

  // ---- cursors ---------------------------------------------------------

  /**
   * The cursor store of one source of this node, e.g. `journal:DIR`. Saved
   * cursors are written with the next flush, in the same transaction as the
   * failures counted before them (PostgreSQL: loaded when the store opens,
   * so `load` stays synchronous).
   */
  cursorStore(source: string): CursorStore;

  // ---- the fleet's ledger ----------------------------------------------

  /**
   * The per-host ledger (src/fleet/ledger.ts says what it holds), written
   * only by the node that pushes: the single process with SQLite, the
   * leader in a cluster. Every write carries `fence.epoch`; once a newer
   * epoch has written (another node became leader), a write with the old
   * one fails with `FencedError` and the caller must stop pushing.
   * SQLite has one writer and ignores the epoch.
   */
  ledger(fence: LedgerFence): LedgerStorage;

  // ---- other nodes -----------------------------------------------------

  /**
   * Subscribe to what other nodes changed: new bans, lifted bans, their
   * failures. Never called back for this node's own writes. SQLite never
   * calls back. PostgreSQL delivers in commit order, each change once per
   * subscriber, resuming after a lost connection from its own position
   * (a notification alone is not enough: it is not replayed). Returns an
   * unsubscribe function.
   */
  changes(listener: (change: StateChange) => void): () => void;

  // ---- write-behind and life cycle -------------------------------------

  /**
   * Register work to do inside each flush (the jails write their pending
   * failures with writeFailures). Returns a function that unregisters it.
   */
  onFlush(fn: () => void): () => void;
  /** Write pending failures, shared failures and cursors now. */
  flush(): Awaitable<void>;
  /**
   * How the store is doing: `ok`, or `degraded` when the database cannot
   * be reached and writes wait in memory (PostgreSQL); `status` shows it.
   */
  health(): StateHealth;
  /** Flush and close. */
  close(): Awaitable<void>;
}

export type StateBackend = 'sqlite' | 'postgresql';

/** A value now (SQLite) or later (PostgreSQL). */
export type Awaitable<T> = T | Promise<T>;

/**
 * Run `then` with the value as soon as it is there: at once for a plain
 * value (no microtask on the SQLite path), after the promise otherwise.
 */
export function settle<T, R>(value: Awaitable<T>, then: (v: T) => Awaitable<R>): Awaitable<R> {
  return value instanceof Promise ? value.then(then) : then(value);
}

/** What commitBan did. */
export type BanCommit =
  /** This call stored the ban: announce it. */
  | { created: true; ban: Ban }
  /** A ban of that jail and address was there already (another node's): nothing written; `ban` is that one. */
  | { created: false; ban: Ban };

/** The last ban of an address in a jail, for bantime.increment. */
export interface HistoryRecord {
  jail: string;
  ip: string;
  /** When it was banned last, ms since the epoch. */
  time: number;
  /** How long that ban lasted, seconds; -1 for ever. */
  banTime: number;
  /** How many times it has been banned in this jail. */
  count: number;
}

/** Failures of one address still inside its jail's findtime. */
export interface FailureRecord {
  ip: string;
  /** Event times, ms, oldest first. */
  times: number[];
  /** Origin of each failure, parallel to `times`. */
  origins: string[];
}

/** The address has no failures left (evicted, ignored now, or banned): delete its row. */
export interface FailureDeletion {
  ip: string;
  times: [];
}

/** One failure counted at one node, for the others (shareFailures, the change feed). */
export interface SharedFailure {
  /** The jail's failure key: the address, or its network for per-prefix jails. */
  ip: string;
  /** Event time, ms. */
  time: number;
  /** Fleet host it was seen on. */
  origin: string;
  /** Its weight in the count (bantime.increment makes a known offender's failures weigh more); 1 usually. */
  weight: number;
}

/** What another node changed (StateStore.changes). */
export type StateChange =
  | { kind: 'ban'; node: string; ban: Ban }
  | { kind: 'unban'; node: string; jail: string; ip: string; reason: UnbanReason }
  | { kind: 'failures'; node: string; jail: string; failures: SharedFailure[] };

/** The leader's right to write the ledger: a number that only grows with each new leader. */
export interface LedgerFence {
  epoch: number;
}

/** A ledger write carried an epoch older than the newest: this node is no longer the leader. */
export class FencedError extends Error {
  constructor(
    readonly epoch: number,
    readonly current: number,
  ) {
    super(`ledger write fenced: epoch ${epoch} is older than ${current}; another node leads`);
    this.name = 'FencedError';
  }
}

export interface StateHealth {
  status: 'ok' | 'degraded';
  /** Why degraded (no secrets: the URL's password is never in it). */
  detail?: string;
  /** Writes waiting in memory for the database to come back. */
  queued?: number;
}
