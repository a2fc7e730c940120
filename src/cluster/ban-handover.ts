import type Database from 'better-sqlite3';
import type { PoolClient } from 'pg';
import type { Ban } from '../bans/ban.js';
import { formatScope } from '../bans/scope.js';
import { banOf, type BanRow } from '../state/sqlite-state-store.js';
import type { HistoryRecord } from '../state/state-store.js';

/**
 * The bans a node decided on its own while it could not reach PostgreSQL
 * for long (ClusterNode's standalone mode), handed back to the cluster when
 * the database answers again.
 *
 * "Without doubling a ban" means three things here:
 * - one row per jail and address in PostgreSQL: the hand-over inserts only
 *   bans PostgreSQL does not hold (a ban the leader decided meanwhile for
 *   the same address wins, and the node's copy is dropped);
 * - no second command to a host: each ban travels with the hosts that
 *   acknowledged it, and those are written down as applied (in PostgreSQL,
 *   and in the leader's ledger before the leader announces the ban), so
 *   the leader sends it only to the hosts the node could not reach;
 * - no second ban from the same failures: the node forgets the failures
 *   that led to its bans before it forwards the rest (see ClusterNode).
 */
export interface HandedBan {
  ban: Ban;
  /** Hosts that acknowledged it (ledger: want ban, applied). */
  applied: string[];
}

/** Every active ban of the local state, with the hosts that have it. */
export function collectHandover(db: Database.Database): HandedBan[] {
  const rows = db.prepare<[], BanRow>('SELECT * FROM main.bans').all();
  const applied = new Map<string, string[]>();
  for (const l of db
    .prepare<[], { host: string; jail: string; ip: string }>(`SELECT host, jail, ip FROM main.ledger WHERE want = 'ban' AND status = 'applied'`)
    .iterate()) {
    const k = `${l.jail}\u0000${l.ip}`;
    const list = applied.get(k);
    if (list) list.push(l.host);
    else applied.set(k, [l.host]);
  }
  return rows.map((r) => ({ ban: banOf(r), applied: applied.get(`${r.jail}\u0000${r.ip}`) ?? [] }));
}

/** The history row a handed ban brings (bantime.increment keeps the larger count). */
export function historyOf(ban: Ban): HistoryRecord {
  return {
    jail: ban.jail,
    ip: ban.ip,
    time: ban.since,
    banTime: ban.until === null ? -1 : Math.round((ban.until - ban.since) / 1000),
    count: ban.count,
  };
}

/**
 * Write the handed bans into PostgreSQL in one transaction, each only if
 * PostgreSQL has no ban of that jail and address, with the hosts that have
 * it as applied: whoever leads next reads them at its takeover. Returns how
 * many were new there. Not fenced: it adds rows no leader has written and
 * changes no row a leader wrote, except a ledger row that wants the same
 * ban (the host has it: applied).
 */
export async function mergeIntoPg(c: PoolClient, list: readonly HandedBan[], node: string): Promise<number> {
  if (list.length === 0) return 0;
  const now = Date.now();
  await c.query('BEGIN');
  try {
    const r = await c.query(
      `INSERT INTO bans (jail, ip, since, until, count, failures, scope, origins, fields, matches, manual, node, epoch)
       SELECT jail, ip, since, until, count, failures, scope, origins, fields, matches, manual, $2, 0
         FROM jsonb_to_recordset($1::jsonb) AS x(jail text, ip text, since bigint, until bigint, count integer, failures integer,
              scope text, origins jsonb, fields jsonb, matches jsonb, manual boolean)
       ON CONFLICT (jail, ip) DO NOTHING`,
      [
        JSON.stringify(
          list.map(({ ban: b }) => ({ ...b, scope: formatScope(b.scope) })),
        ),
        node,
      ],
    );
    const hist = list.map(({ ban }) => historyOf(ban));
    await c.query(
      `INSERT INTO ban_history (jail, ip, time, bantime, count)
       SELECT jail, ip, time, "banTime", count FROM jsonb_to_recordset($1::jsonb) AS x(jail text, ip text, time bigint, "banTime" bigint, count integer)
       ON CONFLICT (jail, ip) DO UPDATE SET count = greatest(ban_history.count, excluded.count),
         bantime = CASE WHEN excluded.time > ban_history.time THEN excluded.bantime ELSE ban_history.bantime END,
         time = greatest(ban_history.time, excluded.time)`,
      [JSON.stringify(hist)],
    );
    const applied = list.flatMap(({ ban, applied: hosts }) => hosts.map((host) => ({ host, jail: ban.jail, ip: ban.ip })));
    await c.query(
      `INSERT INTO ledger (host, jail, ip, want, status, error, attempts, updated, epoch)
       SELECT host, jail, ip, 'ban', 'applied', NULL, 1, $2, 0 FROM jsonb_to_recordset($1::jsonb) AS x(host text, jail text, ip text)
       ON CONFLICT (host, jail, ip) DO UPDATE SET status = 'applied', error = NULL, updated = excluded.updated WHERE ledger.want = 'ban'`,
      [JSON.stringify(applied), now],
    );
    await c.query('COMMIT');
    return r.rowCount ?? 0;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * The leader takes the handed bans it does not hold: the hosts that have
 * one are written down as applied in its local ledger first, then the ban
 * is committed and announced, so the fleet sends it only to the others.
 * Returns how many it took.
 */
export async function adoptHandover(
  db: Database.Database,
  list: readonly HandedBan[],
  adopt: (ban: Ban, history: HistoryRecord) => Promise<boolean>,
): Promise<number> {
  const has = db.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM main.bans WHERE jail = ? AND ip = ?');
  const hist = db.prepare<[string, string], { count: number }>('SELECT count FROM main.ban_history WHERE jail = ? AND ip = ?');
  const applied = db.prepare(
    `INSERT INTO main.ledger (host, jail, ip, want, status, error, attempts, updated) VALUES (?, ?, ?, 'ban', 'applied', NULL, 1, ?)
     ON CONFLICT (host, jail, ip) DO UPDATE SET want = 'ban', status = 'applied', error = NULL, updated = excluded.updated`,
  );
  let n = 0;
  for (const { ban, applied: hosts } of list) {
    if (has.get(ban.jail, ban.ip)) continue;
    const now = Date.now();
    db.transaction(() => {
      for (const host of hosts) applied.run(host, ban.jail, ban.ip, now);
    })();
    const h = historyOf(ban);
    h.count = Math.max(h.count, hist.get(ban.jail, ban.ip)?.count ?? 0);
    if (await adopt(ban, h)) n++;
  }
  return n;
}
