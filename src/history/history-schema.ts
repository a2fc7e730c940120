import type { Database } from 'better-sqlite3';
import { runMigrations, type SchemaVersion } from '../state/migrations.js';

/**
 * The history's tables, in the state database but apart from the ban store:
 * their own version row (`history_schema`), never `PRAGMA user_version`,
 * which belongs to the ban store's migrations. A history that cannot be
 * read can be dropped without touching a ban.
 *
 * Never edit a migration that has shipped: add the next one.
 */
export const HISTORY_MIGRATIONS: readonly string[] = [
  // 1: per-minute counters, attackers, their matched lines and ban events.
  `
  -- One row per counter and minute with something in it. series names the
  -- counter ("failures|vpopmail", "source.dropped|udp 0.0.0.0:514|parse");
  -- minute is ms since the epoch / 60000.
  CREATE TABLE history_minute (
    series TEXT NOT NULL, minute INTEGER NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (series, minute)) WITHOUT ROWID;
  CREATE INDEX history_minute_time ON history_minute (minute);

  -- Every address that failed: when first and last, how many failures, and
  -- per jail, per mail server and per user name tried how many (JSON
  -- objects, capped). Passwords are never stored.
  CREATE TABLE history_attacker (
    ip TEXT NOT NULL PRIMARY KEY,
    first INTEGER NOT NULL, last INTEGER NOT NULL, failures INTEGER NOT NULL,
    jails TEXT NOT NULL, origins TEXT NOT NULL, users TEXT NOT NULL) WITHOUT ROWID;
  CREATE INDEX history_attacker_failures ON history_attacker (failures);
  CREATE INDEX history_attacker_last ON history_attacker (last);

  -- The last matched lines of each address, passwords already removed by the filter.
  CREATE TABLE history_line (
    ip TEXT NOT NULL, time INTEGER NOT NULL, jail TEXT NOT NULL,
    origin TEXT NOT NULL, user TEXT, line TEXT NOT NULL);
  CREATE INDEX history_line_ip ON history_line (ip, time);
  CREATE INDEX history_line_time ON history_line (time);

  -- Bans and unbans of each address, as they happened.
  CREATE TABLE history_event (
    ip TEXT NOT NULL, time INTEGER NOT NULL, jail TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('ban', 'unban')),
    detail TEXT NOT NULL);
  CREATE INDEX history_event_ip ON history_event (ip, time);
  CREATE INDEX history_event_time ON history_event (time);
  `,
];

/** The history's version: one row of its own table, never `PRAGMA user_version`. */
const HISTORY_VERSION: SchemaVersion = {
  name: 'the history tables',
  read: (db) => {
    db.exec('CREATE TABLE IF NOT EXISTS history_schema (version INTEGER NOT NULL)');
    return db.prepare<[], { version: number }>('SELECT version FROM history_schema').get()?.version ?? 0;
  },
  write: (db, v) => {
    db.exec('DELETE FROM history_schema');
    db.prepare('INSERT INTO history_schema (version) VALUES (?)').run(v);
  },
};

/** Bring the history tables of `db` to the latest version (the state's migration mechanism); returns the version they had. */
export function migrateHistory(db: Database): number {
  return runMigrations(db, HISTORY_MIGRATIONS, HISTORY_VERSION);
}
