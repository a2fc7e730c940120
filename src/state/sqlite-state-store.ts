import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { hostname } from 'node:os';
import type { Ban, BanKey, UnbanReason } from '../bans/ban.js';
import { formatScope, parseScope } from '../bans/scope.js';
import { LedgerStore } from '../fleet/ledger.js';
import type { CursorStore } from './cursor-store.js';
import { migrate } from './migrations.js';
import { openSqliteFile } from './sqlite-file.js';
import type {
  BanCommit,
  FailureDeletion,
  FailureRecord,
  HistoryRecord,
  LedgerFence,
  SharedFailure,
  StateChange,
  StateHealth,
  StateStore,
} from './state-store.js';

/** The SQLite state file inside `[fleetban] statedir`. */
export const STATE_FILE = 'fleetban.sqlite3';

export interface SqliteStateOptions {
  /** How often pending failures and cursors are written, ms (default 1000). 0: only on flush(). */
  flushMs?: number;
  logger?: Logger;
  /** This node's name (default the host name); one SQLite file serves one node. */
  node?: string;
}

/** A row of `bans` as SQLite holds it. */
export interface BanRow {
  jail: string;
  ip: string;
  since: number;
  until: number | null;
  count: number;
  failures: number;
  scope: string;
  origins: string;
  fields: string;
  matches: string;
  manual: number;
}

/**
 * The `sqlite` state backend (the default): fleetban's state in one SQLite file (better-sqlite3): bans, ban history,
 * pending failures, source cursors and the fleet's ledger. One connection in
 * one process writes it (the service); WAL lets anyone read it meanwhile.
 *
 * Bans are written synchronously, before anyone hears of them: a ban that
 * was announced is a ban that survives a crash. Failures and cursors, which
 * arrive by the thousand, are written behind, in one transaction every
 * `flushMs`: a kill -9 forgets at most that much of them.
 */
export class SqliteStateStore implements StateStore {
  readonly backend = 'sqlite';
  readonly node: string;
  /** One process counts everything: nothing to share. */
  readonly sharesFailures = false;
  /** The better-sqlite3 handle (tests look inside; the ledger shares the connection). */
  readonly db: Database.Database;
  private ledgerStore: LedgerStore | undefined;
  private readonly flushers: (() => void)[] = [];
  private readonly pendingCursors = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly commitBanTx: (ban: Ban, history: HistoryRecord) => BanCommit;
  private readonly flushTx: () => void;

  private readonly stmt: {
    insertBan: Database.Statement;
    getBan: Database.Statement<[string, string], BanRow>;
    deleteBan: Database.Statement;
    allBans: Database.Statement<[], BanRow>;
    upsertHistory: Database.Statement;
    history: Database.Statement<[string, string], HistoryRecord>;
    historyAll: Database.Statement<[string], { count: number | null; time: number | null }>;
    historyOfJail: Database.Statement<[string, number], { ip: string; count: number }>;
    purgeHistory: Database.Statement;
    upsertFailure: Database.Statement;
    deleteFailure: Database.Statement;
    failuresOfJail: Database.Statement<[string, number], { ip: string; times: string; origins: string }>;
    purgeFailures: Database.Statement;
    dropFailuresOfJail: Database.Statement;
    loadCursor: Database.Statement<[string], { cursor: string }>;
    saveCursor: Database.Statement;
  };

  private constructor(
    readonly file: string,
    opts: SqliteStateOptions,
  ) {
    this.node = opts.node ?? hostname();
    this.db = openSqliteFile(file, migrate, { foreignKeys: true });
    const db = this.db;
    this.stmt = {
      // One ban per jail and address: the primary key decides, a second one is not written.
      insertBan: db.prepare(
        `INSERT INTO bans (jail, ip, since, until, count, failures, scope, origins, fields, matches, manual)
         VALUES (@jail, @ip, @since, @until, @count, @failures, @scope, @origins, @fields, @matches, @manual)
         ON CONFLICT (jail, ip) DO NOTHING`,
      ),
      getBan: db.prepare('SELECT * FROM bans WHERE jail = ? AND ip = ?'),
      deleteBan: db.prepare('DELETE FROM bans WHERE jail = ? AND ip = ?'),
      allBans: db.prepare('SELECT * FROM bans'),
      upsertHistory: db.prepare(
        `INSERT OR REPLACE INTO ban_history (jail, ip, time, bantime, count) VALUES (@jail, @ip, @time, @banTime, @count)`,
      ),
      history: db.prepare('SELECT jail, ip, time, bantime AS banTime, count FROM ban_history WHERE jail = ? AND ip = ?'),
      historyAll: db.prepare('SELECT sum(count) AS count, max(time) AS time FROM ban_history WHERE ip = ?'),
      historyOfJail: db.prepare('SELECT ip, count FROM ban_history WHERE jail = ? AND time >= ?'),
      // fail2ban's rule: forget an address once its last ban is older than
      // dbpurgeage and also ended more than three ban times ago; never forget
      // a permanent one.
      purgeHistory: db.prepare('DELETE FROM ban_history WHERE time < @before AND bantime >= 0 AND time + bantime * 3000 < @before'),
      upsertFailure: db.prepare('INSERT OR REPLACE INTO failures (jail, ip, last, times, origins) VALUES (?, ?, ?, ?, ?)'),
      deleteFailure: db.prepare('DELETE FROM failures WHERE jail = ? AND ip = ?'),
      failuresOfJail: db.prepare('SELECT ip, times, origins FROM failures WHERE jail = ? AND last >= ?'),
      purgeFailures: db.prepare('DELETE FROM failures WHERE jail = ? AND last < ?'),
      dropFailuresOfJail: db.prepare('DELETE FROM failures WHERE jail = ?'),
      loadCursor: db.prepare('SELECT cursor FROM cursors WHERE source = ?'),
      saveCursor: db.prepare('INSERT OR REPLACE INTO cursors (source, cursor, updated) VALUES (?, ?, ?)'),
    };
    // Transactions are built once: building one per ban costs as much as the ban.
    this.commitBanTx = db.transaction((ban: Ban, history: HistoryRecord): BanCommit => {
      if (this.stmt.insertBan.run(banParams(ban)).changes === 0) {
        const row = this.stmt.getBan.get(ban.jail, ban.ip);
        return { created: false, ban: row ? banOf(row) : ban };
      }
      this.stmt.upsertHistory.run(history);
      this.stmt.deleteFailure.run(ban.jail, ban.ip);
      return { created: true, ban };
    });
    this.flushTx = db.transaction(() => {
      for (const f of this.flushers) f();
      const now = Date.now();
      for (const [source, cursor] of this.pendingCursors) this.stmt.saveCursor.run(source, cursor, now);
      this.pendingCursors.clear();
    });
    const flushMs = opts.flushMs ?? 1000;
    if (flushMs > 0) {
      this.timer = setInterval(() => {
        try {
          this.flush();
        } catch (err) {
          opts.logger?.error({ err }, 'writing failures and cursors to the state database failed');
        }
      }, flushMs);
      this.timer.unref();
    }
  }

  /** Open (creating and migrating as needed) the state at `file`; `:memory:` for tests. */
  static open(file: string, opts: SqliteStateOptions = {}): SqliteStateStore {
    return new SqliteStateStore(file, opts);
  }

  // ---- bans ------------------------------------------------------------

  /**
   * Record a ban and the address's history, and forget the failures that led
   * to it, in one transaction. Returns when the ban is on disk.
   */
  commitBan(ban: Ban, history: HistoryRecord): BanCommit {
    return this.commitBanTx(ban, history);
  }

  /** Delete bans; returns how many existed. */
  removeBans(list: readonly BanKey[], _reason?: UnbanReason): number {
    if (list.length === 0) return 0;
    let n = 0;
    this.db.transaction(() => {
      for (const b of list) n += this.stmt.deleteBan.run(b.jail, b.ip).changes;
    })();
    return n;
  }

  loadBans(): Ban[] {
    return this.stmt.allBans.all().map(banOf);
  }

  // ---- ban history ---------------------------------------------------------

  history(jail: string, ip: string): HistoryRecord | undefined {
    return this.stmt.history.get(jail, ip);
  }

  /** Earlier bans of `ip` in every jail (bantime.overalljails): their sum and the latest. */
  historyAllJails(ip: string): { count: number; time: number } | undefined {
    const r = this.stmt.historyAll.get(ip);
    return r && r.count !== null && r.time !== null ? { count: r.count, time: r.time } : undefined;
  }

  /** Addresses banned in `jail` since `since` (ms), with their ban counts. */
  historyOfJail(jail: string, since: number): { ip: string; count: number }[] {
    return this.stmt.historyOfJail.all(jail, since);
  }

  /** Forget history older than `before` (ms) as fail2ban's dbpurgeage does; returns rows removed. */
  purgeHistory(before: number): number {
    return this.stmt.purgeHistory.run({ before }).changes;
  }

  // ---- pending failures -----------------------------------------------------

  /** Write the failures of some addresses of a jail (call inside a flusher). */
  writeFailures(jail: string, records: readonly (FailureRecord | FailureDeletion)[]): void {
    for (const r of records) {
      if (r.times.length === 0) this.stmt.deleteFailure.run(jail, r.ip);
      else {
        const f = r as FailureRecord;
        this.stmt.upsertFailure.run(jail, f.ip, f.times[f.times.length - 1], JSON.stringify(f.times), JSON.stringify(f.origins));
      }
    }
  }

  /** Failures of `jail` whose latest is at or after `since` (ms). */
  loadFailures(jail: string, since: number): FailureRecord[] {
    const out: FailureRecord[] = [];
    for (const r of this.stmt.failuresOfJail.iterate(jail, since)) {
      const times = parseJson<unknown>(r.times, []);
      const origins = parseJson<unknown>(r.origins, []);
      if (!Array.isArray(times) || !Array.isArray(origins)) continue;
      out.push({
        ip: r.ip,
        times: times.filter((t): t is number => typeof t === 'number' && Number.isFinite(t)),
        origins: origins.map((o) => String(o)),
      });
    }
    return out;
  }

  /** Forget failures of `jail` whose latest is before `before` (ms). */
  purgeFailures(jail: string, before: number): number {
    return this.stmt.purgeFailures.run(jail, before).changes;
  }

  /** Forget every failure of a jail (the jail was removed). */
  dropFailures(jail: string): void {
    this.stmt.dropFailuresOfJail.run(jail);
  }

  /** A single node counts everything itself: nothing to share (sharesFailures is false). */
  shareFailures(_jail: string, _failures: readonly SharedFailure[]): void {}

  // ---- cursors ---------------------------------------------------------

  /** The cursor store of one source, e.g. `journal`. */
  cursorStore(source: string): CursorStore {
    return {
      load: () => this.pendingCursors.get(source) ?? this.stmt.loadCursor.get(source)?.cursor,
      save: (cursor: string) => {
        this.pendingCursors.set(source, cursor);
      },
    };
  }

  // ---- the ledger and other nodes --------------------------------------

  /** The ledger on this file's connection; one process writes it, so the epoch is not checked. */
  ledger(_fence: LedgerFence = { epoch: 1 }): LedgerStore {
    return (this.ledgerStore ??= new LedgerStore(this.db));
  }

  /** One node: no one else changes anything. */
  changes(_listener: (change: StateChange) => void): () => void {
    return () => {};
  }

  health(): StateHealth {
    return { status: 'ok' };
  }

  // ---- write-behind ----------------------------------------------------

  /**
   * Register work to do inside each flush transaction (the jails write their
   * pending failures). Returns a function that unregisters it.
   */
  onFlush(fn: () => void): () => void {
    this.flushers.push(fn);
    return () => {
      const i = this.flushers.indexOf(fn);
      if (i !== -1) this.flushers.splice(i, 1);
    };
  }

  /** Write pending failures and cursors now, in one transaction. */
  flush(): void {
    if (this.closed) return;
    this.flushTx();
  }

  /** Flush and close. */
  close(): void {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    this.flush();
    this.closed = true;
    this.db.close();
  }
}

/** The ban a row of `bans` holds (the cluster reads the rows it hands over with it). */
export function banOf(r: BanRow): Ban {
  return {
    jail: r.jail,
    ip: r.ip,
    since: r.since,
    until: r.until,
    count: r.count,
    failures: r.failures,
    scope: parseScope(r.scope) ?? { kind: 'fleet' },
    origins: parseJson<string[]>(r.origins, []),
    fields: parseJson<Record<string, string>>(r.fields, {}),
    matches: parseJson<string[]>(r.matches, []),
    manual: r.manual !== 0,
  };
}

function banParams(b: Ban): Record<string, string | number | null> {
  return {
    jail: b.jail,
    ip: b.ip,
    since: b.since,
    until: b.until,
    count: b.count,
    failures: b.failures,
    scope: formatScope(b.scope),
    origins: JSON.stringify(b.origins),
    fields: JSON.stringify(b.fields),
    matches: JSON.stringify(b.matches),
    manual: b.manual ? 1 : 0,
  };
}

function parseJson<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}
