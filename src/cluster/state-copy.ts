import Database from 'better-sqlite3';
import pg from 'pg';
import { migratePg } from './pg-schema.js';
import { clientConfig, redactSecret, type StateUrl } from './state-url.js';

export interface CopyCounts {
  bans: number;
  history: number;
  ledger: number;
  hosts: number;
  failures: number;
  /** Rows PostgreSQL had already (kept as they were). */
  skipped: number;
}

/** The node name failures copied from SQLite carry in PostgreSQL. */
export const COPY_NODE = 'sqlite-copy';

/**
 * `fleetban state copy --to postgresql://...`: the single host's SQLite state
 * (bans with their matches, ban history, pending failures, the ledger and the
 * hosts' boot ids) into PostgreSQL, in one transaction. Rows PostgreSQL
 * already has are kept (a second copy changes nothing). The service should
 * be stopped meanwhile, so that the copy is of a state nobody changes.
 */
export async function copyState(sqliteFile: string, url: StateUrl, password: string | undefined): Promise<CopyCounts> {
  const db = new Database(sqliteFile, { readonly: true, fileMustExist: true });
  const c = new pg.Client(clientConfig(url, password, 'fleetban state copy'));
  try {
    await c.connect();
    await migratePg(c);
    const counts: CopyCounts = { bans: 0, history: 0, ledger: 0, hosts: 0, failures: 0, skipped: 0 };
    const json = (s: unknown) => {
      try {
        return JSON.parse(String(s));
      } catch {
        return null;
      }
    };
    await c.query('BEGIN');
    const insert = async (sql: string, rows: unknown[], key: keyof CopyCounts) => {
      if (rows.length === 0) return;
      const r = await c.query(sql, [JSON.stringify(rows)]);
      counts[key] += r.rowCount ?? 0;
      counts.skipped += rows.length - (r.rowCount ?? 0);
    };
    const bans = db.prepare('SELECT * FROM bans').all() as Record<string, unknown>[];
    await insert(
      `INSERT INTO bans (jail, ip, since, until, count, failures, scope, origins, fields, matches, manual, node, epoch)
       SELECT jail, ip, since, until, count, failures, scope, origins, fields, matches, manual, '${COPY_NODE}', 0
         FROM jsonb_to_recordset($1::jsonb) AS x(jail text, ip text, since bigint, until bigint, count integer, failures integer,
              scope text, origins jsonb, fields jsonb, matches jsonb, manual boolean)
       ON CONFLICT DO NOTHING`,
      bans.map((b) => ({ ...b, origins: json(b.origins) ?? [], fields: json(b.fields) ?? {}, matches: json(b.matches) ?? [], manual: b.manual === 1 })),
      'bans',
    );
    await insert(
      `INSERT INTO ban_history (jail, ip, time, bantime, count)
       SELECT jail, ip, time, bantime, count FROM jsonb_to_recordset($1::jsonb) AS x(jail text, ip text, time bigint, bantime bigint, count integer)
       ON CONFLICT DO NOTHING`,
      db.prepare('SELECT jail, ip, time, bantime, count FROM ban_history').all(),
      'history',
    );
    await insert(
      `INSERT INTO ledger (host, jail, ip, want, status, error, attempts, updated, epoch)
       SELECT host, jail, ip, want, status, error, attempts, updated, 0
         FROM jsonb_to_recordset($1::jsonb) AS x(host text, jail text, ip text, want text, status text, error text, attempts integer, updated bigint)
       ON CONFLICT DO NOTHING`,
      db.prepare('SELECT host, jail, ip, want, status, error, attempts, updated FROM ledger').all(),
      'ledger',
    );
    await insert(
      `INSERT INTO fleet_host (host, boot_id, updated)
       SELECT host, boot_id, updated FROM jsonb_to_recordset($1::jsonb) AS x(host text, boot_id text, updated bigint)
       ON CONFLICT DO NOTHING`,
      db.prepare('SELECT host, boot_id, updated FROM fleet_host').all(),
      'hosts',
    );
    // Pending failures become one batch of the copy's own node: the next
    // leader counts them as it counts any node's.
    const events: unknown[] = [];
    let newest = 0;
    for (const f of db.prepare('SELECT jail, ip, times, origins FROM failures').iterate() as Iterable<{ jail: string; ip: string; times: string; origins: string }>) {
      const times = (json(f.times) as unknown[] | null) ?? [];
      const origins = (json(f.origins) as unknown[] | null) ?? [];
      times.forEach((t, i) => {
        if (typeof t !== 'number') return;
        newest = Math.max(newest, t);
        events.push([f.jail, f.ip, t, t, String(origins[i] ?? '?'), '(copied from the SQLite state)', {}]);
      });
    }
    if (events.length > 0) {
      await c.query(`INSERT INTO failures (node, seq, newest, count, events) VALUES ($1, nextval('failure_seq'), $2, $3, $4::json)`, [
        COPY_NODE,
        newest,
        events.length,
        JSON.stringify(events),
      ]);
      counts.failures = events.length;
    }
    await c.query('COMMIT');
    return counts;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw new Error(redactSecret((err as Error).message, password));
  } finally {
    db.close();
    await c.end().catch(() => undefined);
  }
}
