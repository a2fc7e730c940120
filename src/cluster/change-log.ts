import type Database from 'better-sqlite3';
import type { PoolClient } from 'pg';
import { LedgerStore } from '../fleet/ledger.js';

/**
 * What the local engine changed, for the leader to write to PostgreSQL.
 *
 * The leader runs the single-host engine unchanged on its local SQLite state
 * (jails, bans, ledger); temporary triggers note every row it inserts,
 * updates or deletes in bans, ban_history, ledger and fleet_host, and the
 * replicator copies those rows, as they stand, to PostgreSQL in one fenced
 * transaction. The engine's write-first rules thus hold locally at once and
 * in PostgreSQL before the fleet hears of a ban (see ClusterNode.afterWrite).
 *
 * The triggers are TEMP: they belong to this connection and vanish with the
 * process, and they need no change to the SQLite schema.
 */

type Table = 'bans' | 'ban_history' | 'ledger' | 'fleet_host';

const KEYS: Record<Table, string[]> = {
  bans: ['jail', 'ip'],
  ban_history: ['jail', 'ip'],
  ledger: ['host', 'jail', 'ip'],
  fleet_host: ['host'],
};

interface ChangeRow {
  id: number;
  tbl: Table;
  k1: string;
  k2: string | null;
  k3: string | null;
}

export interface PendingChanges {
  /** Highest change id covered. */
  upTo: number;
  count: number;
  /** Current local rows (undefined: deleted), per table, keyed by their key joined with NUL. */
  rows: Record<Table, Map<string, Record<string, unknown> | undefined>>;
}

export class ChangeLog {
  private readonly st: {
    max: Database.Statement<[], { id: number | null }>;
    range: Database.Statement<[number, number], ChangeRow>;
    drop: Database.Statement<[number]>;
    clear: Database.Statement<[]>;
    get: Record<Table, Database.Statement>;
  };

  constructor(readonly db: Database.Database) {
    db.exec('CREATE TEMP TABLE IF NOT EXISTS cluster_changes (id INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, k1 TEXT NOT NULL, k2 TEXT, k3 TEXT)');
    for (const [tbl, keys] of Object.entries(KEYS) as [Table, string[]][]) {
      const cols = ['k1', 'k2', 'k3'].slice(0, keys.length).join(', ');
      for (const [ev, ref] of [
        ['INSERT', 'NEW'],
        ['UPDATE', 'NEW'],
        ['DELETE', 'OLD'],
      ] as const) {
        db.exec(
          `CREATE TEMP TRIGGER IF NOT EXISTS cc_${tbl}_${ev.toLowerCase()} AFTER ${ev} ON main.${tbl} BEGIN
             INSERT INTO cluster_changes (tbl, ${cols}) VALUES ('${tbl}', ${keys.map((k) => `${ref}.${k}`).join(', ')});
           END`,
        );
      }
    }
    const where = (t: Table) => KEYS[t].map((k) => `${k} = ?`).join(' AND ');
    this.st = {
      max: db.prepare('SELECT max(id) AS id FROM temp.cluster_changes'),
      range: db.prepare('SELECT id, tbl, k1, k2, k3 FROM temp.cluster_changes WHERE id > ? AND id <= ? ORDER BY id'),
      drop: db.prepare('DELETE FROM temp.cluster_changes WHERE id <= ?'),
      clear: db.prepare('DELETE FROM temp.cluster_changes'),
      get: {
        bans: db.prepare(`SELECT * FROM main.bans WHERE ${where('bans')}`),
        ban_history: db.prepare(`SELECT * FROM main.ban_history WHERE ${where('ban_history')}`),
        ledger: db.prepare(`SELECT * FROM main.ledger WHERE ${where('ledger')}`),
        fleet_host: db.prepare(`SELECT * FROM main.fleet_host WHERE ${where('fleet_host')}`),
      },
    };
  }

  /** The id of the latest change (0: none). */
  latest(): number {
    return this.st.max.get()?.id ?? 0;
  }

  /** Changes after `after` up to `upTo` (at most `limit` of them), with the rows as they are now. */
  collect(after: number, upTo: number, limit = 20_000): PendingChanges {
    const rows: PendingChanges['rows'] = { bans: new Map(), ban_history: new Map(), ledger: new Map(), fleet_host: new Map() };
    let last = after;
    let count = 0;
    for (const c of this.st.range.iterate(after, upTo)) {
      last = c.id;
      count++;
      const key = [c.k1, c.k2, c.k3].slice(0, KEYS[c.tbl].length) as string[];
      rows[c.tbl].set(key.join('\u0000'), this.st.get[c.tbl].get(...key) as Record<string, unknown> | undefined);
      if (count >= limit) break;
    }
    return { upTo: last, count, rows };
  }

  /** Forget changes up to `id` (they are in PostgreSQL). */
  done(id: number): void {
    this.st.drop.run(id);
  }

  /** Forget every change (the local state was just replaced from PostgreSQL). */
  clear(): void {
    this.st.clear.run();
  }
}

const json = (v: unknown): unknown => {
  if (typeof v !== 'string') return v ?? null;
  try {
    return JSON.parse(v);
  } catch {
    return null;
  }
};

/** Write `p` to PostgreSQL inside the caller's (fenced) transaction. */
export async function writeChanges(c: PoolClient, p: PendingChanges, node: string, epoch: number): Promise<void> {
  const split = (t: Table) => {
    const up: Record<string, unknown>[] = [];
    const del: string[][] = [];
    for (const [k, row] of p.rows[t]) {
      if (row) up.push(row);
      else del.push(k.split('\u0000'));
    }
    return { up, del };
  };
  const bans = split('bans');
  if (bans.del.length) {
    await c.query('DELETE FROM bans b USING unnest($1::text[], $2::text[]) AS d(jail, ip) WHERE b.jail = d.jail AND b.ip = d.ip', [
      bans.del.map((d) => d[0]),
      bans.del.map((d) => d[1]),
    ]);
  }
  if (bans.up.length) {
    const rows = bans.up.map((r) => ({ ...r, origins: json(r.origins), fields: json(r.fields), matches: json(r.matches), manual: r.manual === 1 }));
    await c.query(
      `INSERT INTO bans (jail, ip, since, until, count, failures, scope, origins, fields, matches, manual, node, epoch)
       SELECT jail, ip, since, until, count, failures, scope, origins, fields, matches, manual, $2, $3
         FROM jsonb_to_recordset($1::jsonb) AS x(jail text, ip text, since bigint, until bigint, count integer, failures integer,
              scope text, origins jsonb, fields jsonb, matches jsonb, manual boolean)
       ON CONFLICT (jail, ip) DO UPDATE SET since = excluded.since, until = excluded.until, count = excluded.count,
         failures = excluded.failures, scope = excluded.scope, origins = excluded.origins, fields = excluded.fields,
         matches = excluded.matches, manual = excluded.manual, node = excluded.node, epoch = excluded.epoch`,
      [JSON.stringify(rows), node, epoch],
    );
  }
  const hist = split('ban_history');
  if (hist.del.length) {
    await c.query('DELETE FROM ban_history b USING unnest($1::text[], $2::text[]) AS d(jail, ip) WHERE b.jail = d.jail AND b.ip = d.ip', [
      hist.del.map((d) => d[0]),
      hist.del.map((d) => d[1]),
    ]);
  }
  if (hist.up.length) {
    await c.query(
      `INSERT INTO ban_history (jail, ip, time, bantime, count)
       SELECT jail, ip, time, bantime, count FROM jsonb_to_recordset($1::jsonb) AS x(jail text, ip text, time bigint, bantime bigint, count integer)
       ON CONFLICT (jail, ip) DO UPDATE SET time = excluded.time, bantime = excluded.bantime, count = excluded.count`,
      [JSON.stringify(hist.up)],
    );
  }
  const ledger = split('ledger');
  if (ledger.del.length) {
    await c.query(
      'DELETE FROM ledger l USING unnest($1::text[], $2::text[], $3::text[]) AS d(host, jail, ip) WHERE l.host = d.host AND l.jail = d.jail AND l.ip = d.ip',
      [ledger.del.map((d) => d[0]), ledger.del.map((d) => d[1]), ledger.del.map((d) => d[2])],
    );
  }
  if (ledger.up.length) {
    await c.query(
      `INSERT INTO ledger (host, jail, ip, want, status, error, attempts, updated, epoch)
       SELECT host, jail, ip, want, status, error, attempts, updated, $2
         FROM jsonb_to_recordset($1::jsonb) AS x(host text, jail text, ip text, want text, status text, error text, attempts integer, updated bigint)
       ON CONFLICT (host, jail, ip) DO UPDATE SET want = excluded.want, status = excluded.status, error = excluded.error,
         attempts = excluded.attempts, updated = excluded.updated, epoch = excluded.epoch`,
      [JSON.stringify(ledger.up), epoch],
    );
  }
  const hosts = split('fleet_host');
  if (hosts.del.length) await c.query('DELETE FROM fleet_host WHERE host = ANY($1::text[])', [hosts.del.map((d) => d[0])]);
  if (hosts.up.length) {
    await c.query(
      `INSERT INTO fleet_host (host, boot_id, updated)
       SELECT host, boot_id, updated FROM jsonb_to_recordset($1::jsonb) AS x(host text, boot_id text, updated bigint)
       ON CONFLICT (host) DO UPDATE SET boot_id = excluded.boot_id, updated = excluded.updated`,
      [JSON.stringify(hosts.up)],
    );
  }
}

/**
 * Replace the local bans, ban history, ledger and fleet hosts with
 * PostgreSQL's (a node taking over), in one local transaction; the triggers'
 * notes of it are dropped (it is PostgreSQL's own content).
 */
export async function importState(c: PoolClient, db: Database.Database, log: ChangeLog): Promise<{ bans: number; history: number; ledger: number }> {
  const bans = (await c.query('SELECT jail, ip, since, until, count, failures, scope, origins, fields, matches, manual FROM bans')).rows;
  const hist = (await c.query('SELECT jail, ip, time, bantime, count FROM ban_history')).rows;
  const ledger = (await c.query('SELECT host, jail, ip, want, status, error, attempts, updated FROM ledger')).rows;
  const hosts = (await c.query('SELECT host, boot_id, updated FROM fleet_host')).rows;
  const num = (v: unknown) => (v === null ? null : Number(v));
  db.transaction(() => {
    db.exec('DELETE FROM main.bans; DELETE FROM main.ban_history; DELETE FROM main.ledger; DELETE FROM main.fleet_host; DELETE FROM main.failures;');
    const ib = db.prepare(
      'INSERT INTO main.bans (jail, ip, since, until, count, failures, scope, origins, fields, matches, manual) VALUES (?,?,?,?,?,?,?,?,?,?,?)',
    );
    for (const b of bans) {
      ib.run(b.jail, b.ip, num(b.since), num(b.until), b.count, b.failures, b.scope, JSON.stringify(b.origins), JSON.stringify(b.fields), JSON.stringify(b.matches), b.manual ? 1 : 0);
    }
    const ih = db.prepare('INSERT INTO main.ban_history (jail, ip, time, bantime, count) VALUES (?,?,?,?,?)');
    for (const h of hist) ih.run(h.jail, h.ip, num(h.time), num(h.bantime), h.count);
    const il = db.prepare('INSERT INTO main.ledger (host, jail, ip, want, status, error, attempts, updated) VALUES (?,?,?,?,?,?,?,?)');
    for (const l of ledger) il.run(l.host, l.jail, l.ip, l.want, l.status, l.error, l.attempts, num(l.updated));
    const ifh = db.prepare('INSERT INTO main.fleet_host (host, boot_id, updated) VALUES (?,?,?)');
    for (const h of hosts) ifh.run(h.host, h.boot_id, num(h.updated));
    log.clear();
  })();
  // The ledger's in-memory tally (host counts, bans per state) follows only its own writes.
  LedgerStore.tableReplaced(db);
  return { bans: bans.length, history: hist.length, ledger: ledger.length };
}
