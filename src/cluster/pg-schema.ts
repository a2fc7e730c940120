import type { ClientBase } from 'pg';

/**
 * The cluster's schema in PostgreSQL, one migration per version, as the
 * SQLite state does (src/state/migrations.ts). `fleetban_schema.version`
 * holds the version reached; each migration runs in the transaction that
 * bumps it, under an advisory lock, so nodes starting together migrate once.
 * Never edit a migration that has shipped: add the next one.
 *
 * Times are ms since the epoch (bigint), as in the SQLite state, except the
 * heartbeats and the lease, which use the database's clock (timestamptz) so
 * that nodes whose clocks disagree still agree on who leads.
 */
export const PG_MIGRATIONS: readonly string[] = [
  // 1
  `
  -- Active bans: the primary key is what makes "exactly one ban per jail
  -- and address" hold however many nodes decide at once.
  CREATE TABLE bans (
    jail text NOT NULL, ip text NOT NULL,
    since bigint NOT NULL, until bigint,
    count integer NOT NULL, failures integer NOT NULL,
    scope text NOT NULL,
    origins jsonb NOT NULL, fields jsonb NOT NULL, matches jsonb NOT NULL,
    manual boolean NOT NULL DEFAULT false,
    node text NOT NULL,                 -- the node that decided it
    epoch bigint NOT NULL,              -- the leader's epoch that wrote it
    PRIMARY KEY (jail, ip));

  -- One row per jail and address ever banned, shared by every node, for
  -- bantime.increment.
  CREATE TABLE ban_history (
    jail text NOT NULL, ip text NOT NULL,
    time bigint NOT NULL, bantime bigint NOT NULL, count integer NOT NULL,
    PRIMARY KEY (jail, ip));
  CREATE INDEX ban_history_ip ON ban_history (ip);

  -- Failures as each node saw them, in batches. seq comes from one sequence
  -- and each node writes its batches one after the other, so a node's
  -- batches commit in seq order: the leader reads "after the last seq I
  -- had of this node" and misses none.
  CREATE SEQUENCE failure_seq;
  CREATE TABLE failures (
    node text NOT NULL, seq bigint NOT NULL,
    created timestamptz NOT NULL DEFAULT now(),
    newest bigint NOT NULL,             -- latest event time in the batch, ms
    count integer NOT NULL,
    events json NOT NULL,               -- [[jail, ip, time, received, origin, line, fields], ...] (json: stored as sent, no jsonb parse)
    PRIMARY KEY (node, seq));
  CREATE INDEX failures_seq ON failures (seq);
  CREATE INDEX failures_newest ON failures (newest);

  -- The per-host ledger, as in SQLite, plus the epoch of the leader that wrote each row.
  CREATE TABLE ledger (
    host text NOT NULL, jail text NOT NULL, ip text NOT NULL,
    want text NOT NULL CHECK (want IN ('ban','unban')),
    status text NOT NULL CHECK (status IN ('pending','applied','failed')),
    error text, attempts integer NOT NULL DEFAULT 0, updated bigint NOT NULL,
    epoch bigint NOT NULL,
    PRIMARY KEY (host, jail, ip));

  CREATE TABLE fleet_host (
    host text PRIMARY KEY, boot_id text NOT NULL, updated bigint NOT NULL);

  -- The one leader: a lease on the database's clock. epoch grows by one at
  -- each takeover; every write of the leader checks it in its transaction.
  CREATE TABLE leader (
    id integer PRIMARY KEY CHECK (id = 1),
    node text, epoch bigint NOT NULL,
    lease_until timestamptz NOT NULL, since timestamptz NOT NULL);
  INSERT INTO leader (id, node, epoch, lease_until, since) VALUES (1, NULL, 0, '-infinity', now());

  -- Every node, with its heartbeat.
  CREATE TABLE nodes (
    name text PRIMARY KEY,
    started timestamptz NOT NULL, heartbeat timestamptz NOT NULL,
    role text NOT NULL, degraded boolean NOT NULL DEFAULT false,
    failures_forwarded bigint NOT NULL DEFAULT 0,
    backlog integer NOT NULL DEFAULT 0,  -- failures waiting to be written
    lag_ms integer NOT NULL DEFAULT 0,   -- age of the oldest of them
    info jsonb NOT NULL DEFAULT '{}');

  -- Verbs a follower hands to the leader (ban, unban, status, banned, hosts).
  CREATE TABLE requests (
    id bigserial PRIMARY KEY, node text NOT NULL,
    verb text NOT NULL, args jsonb NOT NULL,
    created timestamptz NOT NULL DEFAULT now(),
    done boolean NOT NULL DEFAULT false, ok boolean, result jsonb);
  `,
  // 2
  `
  -- A batch of failures is a few hundred KB of JSON: lz4 compresses it in a
  -- third less time than the default pglz (one batch at a time per node, so
  -- this is the node's forwarding speed). PostgreSQL 13, or one built
  -- without lz4, keeps pglz.
  DO $$ BEGIN
    ALTER TABLE failures ALTER COLUMN events SET COMPRESSION lz4;
  EXCEPTION WHEN OTHERS THEN NULL;
  END $$;
  `,
];

export class PgSchemaError extends Error {}

/** An arbitrary constant: the advisory lock nodes take while migrating. */
const MIGRATE_LOCK = 0x666c6274; // "flbt"

/** Bring the database to the latest schema; returns the version it had. */
export async function migratePg(c: ClientBase): Promise<number> {
  await c.query('BEGIN');
  try {
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATE_LOCK]);
    await c.query('CREATE TABLE IF NOT EXISTS fleetban_schema (version integer NOT NULL)');
    const r = await c.query<{ version: number }>('SELECT version FROM fleetban_schema');
    if (r.rows.length === 0) await c.query('INSERT INTO fleetban_schema (version) VALUES (0)');
    const from = r.rows[0]?.version ?? 0;
    if (from > PG_MIGRATIONS.length) {
      throw new PgSchemaError(
        `the PostgreSQL state has schema version ${from}, newer than this fleetban knows (${PG_MIGRATIONS.length}): it was written by a newer release`,
      );
    }
    for (let v = from; v < PG_MIGRATIONS.length; v++) await c.query(PG_MIGRATIONS[v]!);
    await c.query('UPDATE fleetban_schema SET version = $1', [PG_MIGRATIONS.length]);
    await c.query('COMMIT');
    return from;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
