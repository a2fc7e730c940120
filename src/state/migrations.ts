import type { Database } from 'better-sqlite3';

/**
 * The state database's schema, one migration per version. `PRAGMA
 * user_version` holds the version reached; a migration runs in the same
 * transaction as the version bump, so a crash leaves either the old schema or
 * the new one. Never edit a migration that has shipped: add the next one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: bans, ban history, pending failures, source cursors, the fleet ledger and hosts' boot ids.
  `
  -- Active bans. until is NULL for a ban for ever. Times in ms since the epoch.
  CREATE TABLE bans (
    jail TEXT NOT NULL, ip TEXT NOT NULL,
    since INTEGER NOT NULL, until INTEGER,
    count INTEGER NOT NULL, failures INTEGER NOT NULL,
    scope TEXT NOT NULL,
    origins TEXT NOT NULL,              -- JSON array of origin names
    fields TEXT NOT NULL,               -- JSON object of the last failure's captured fields
    matches TEXT NOT NULL,              -- JSON array of matched lines, passwords removed
    manual INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (jail, ip));

  -- One row per jail and address ever banned (fail2ban's "bips"), for
  -- bantime.increment: when, how long (seconds, -1 for ever), how many times.
  CREATE TABLE ban_history (
    jail TEXT NOT NULL, ip TEXT NOT NULL,
    time INTEGER NOT NULL, bantime INTEGER NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (jail, ip)) WITHOUT ROWID;
  CREATE INDEX ban_history_ip ON ban_history (ip);

  -- Failures not yet leading to a ban: the event times (ms) of the ones
  -- still counted and the origin of each, as JSON arrays.
  CREATE TABLE failures (
    jail TEXT NOT NULL, ip TEXT NOT NULL,
    last INTEGER NOT NULL, times TEXT NOT NULL, origins TEXT NOT NULL,
    PRIMARY KEY (jail, ip)) WITHOUT ROWID;
  CREATE INDEX failures_last ON failures (jail, last);

  -- Where each source stopped reading (the journal's __CURSOR).
  CREATE TABLE cursors (
    source TEXT NOT NULL PRIMARY KEY, cursor TEXT NOT NULL, updated INTEGER NOT NULL);

  CREATE TABLE ledger (
    host TEXT NOT NULL, jail TEXT NOT NULL, ip TEXT NOT NULL,
    want TEXT NOT NULL CHECK (want IN ('ban','unban')),            -- what the host should have
    status TEXT NOT NULL CHECK (status IN ('pending','applied','failed')),
    error TEXT, attempts INTEGER NOT NULL DEFAULT 0, updated INTEGER NOT NULL,
    PRIMARY KEY (host, jail, ip));

  -- The boot id each mail server last reported: a new one means it rebooted
  -- and lost its routes, so everything it should have is sent again.
  CREATE TABLE fleet_host (
    host TEXT PRIMARY KEY, boot_id TEXT NOT NULL, updated INTEGER NOT NULL);
  `,
  // 2: one ban's rows on every host (hostsOf: the page's ban list, `banned JAIL IP`) without a pass over the ledger.
  `
  CREATE INDEX ledger_ban ON ledger (jail, ip);
  `,
];

export class SchemaError extends Error {}

/**
 * Where one set of migrations keeps the version it reached, and what to
 * call it in an error. The ban store's is `PRAGMA user_version`; the
 * history's is a row of its own (src/history/history-schema.ts), so the two
 * sets never touch each other's version.
 */
export interface SchemaVersion {
  /** "the state database", "the history tables". */
  name: string;
  read(db: Database): number;
  write(db: Database, version: number): void;
}

const USER_VERSION: SchemaVersion = {
  name: 'the state database',
  read: (db) => db.pragma('user_version', { simple: true }) as number,
  write: (db, v) => void db.pragma(`user_version = ${v}`),
};

/**
 * Run the migrations of `db` not yet run, each in one transaction with its
 * version bump, so a crash leaves either the old schema or the new one.
 * Refuses a version newer than it knows (a newer release wrote it).
 * Returns the version `db` had.
 */
export function runMigrations(db: Database, migrations: readonly string[], version: SchemaVersion): number {
  const from = version.read(db);
  if (from > migrations.length) {
    throw new SchemaError(
      `${version.name} has schema version ${from}, newer than this fleetban knows (${migrations.length}): it was written by a newer release`,
    );
  }
  for (let v = from; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]!);
      version.write(db, v + 1);
    })();
  }
  return from;
}

/** Bring `db` to the ban store's latest schema; returns the version it had. */
export function migrate(db: Database): number {
  return runMigrations(db, MIGRATIONS, USER_VERSION);
}
