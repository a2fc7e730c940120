import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/**
 * Open the state's SQLite file (the ban store and the page's history share
 * it, each on its own connection) with the settings both rely on, and bring
 * its schema up to date with `migrate`. WAL with synchronous=NORMAL survives
 * a crash of the process (kill -9) and loses at most the last transactions
 * on a power cut; busy_timeout lets the two connections take turns.
 */
export function openSqliteFile(
  file: string,
  migrate: (db: Database.Database) => void,
  opts: { foreignKeys?: boolean } = {},
): Database.Database {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    if (opts.foreignKeys) db.pragma('foreign_keys = ON');
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}
