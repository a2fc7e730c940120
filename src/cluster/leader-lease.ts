import { performance } from 'node:perf_hooks';
import type { Pool, PoolClient } from 'pg';

/**
 * Who leads: one row in `leader` holding a lease on the database's clock.
 *
 * Why a lease in a table and not an advisory lock: a leader stopped with
 * SIGSTOP (or behind a half-open connection) keeps its session, and with it
 * any advisory lock, for as long as TCP keepalive and the server's timeouts
 * take to notice, and a session over a Unix socket is never noticed at
 * all. A lease expires on its own: nobody has to detect the dead holder.
 *
 * - Followers take the lease when it has expired, and the epoch grows by
 *   one. A lease that expired only because the database itself was down
 *   (restarted after the last renewal) is left to its holder for one more
 *   lease time, so a restart of PostgreSQL does not move the leader. A
 *   lease given up by `release()` (lease_until = -infinity) is free at once,
 *   even just after the database started.
 * - The leader renews it every `leaseMs / 4`. It trusts its lease until the
 *   moment it sent the last successful renewal plus `leaseMs`, minus a
 *   margin, on its own monotonic clock: that is never later than the
 *   database's expiry, so when a follower can take over, the old leader has
 *   already stopped trusting itself, even if it was frozen in between
 *   (a frozen process's monotonic clock keeps running).
 * - Every write of the leader runs in a transaction that first reads the
 *   leader row FOR SHARE and checks node and epoch (`fence`): a takeover,
 *   which updates that row, waits for such a transaction or makes it fail.
 */
export class LeaderLease {
  private epochHeld: number | null = null;
  private trustedUntil = 0;

  constructor(
    private readonly pool: Pool,
    readonly node: string,
    readonly leaseMs: number,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** The epoch this node leads in, while it trusts its lease; else null. */
  get epoch(): number | null {
    return this.epochHeld !== null && this.valid() ? this.epochHeld : null;
  }

  /** The last epoch this node held, even if its lease has run out since. */
  get lastEpoch(): number | null {
    return this.epochHeld;
  }

  /** True while the lease may be trusted (checked before every push). */
  valid(): boolean {
    return this.epochHeld !== null && this.clock() < this.trustedUntil;
  }

  /** Take the lease if it is free or expired; returns the new epoch, or null. */
  async tryAcquire(): Promise<number | null> {
    const t0 = this.clock();
    const r = await this.pool.query<{ epoch: string }>(
      `UPDATE leader SET node = $1, epoch = epoch + 1, since = now(),
              lease_until = now() + make_interval(secs => $2::double precision / 1000)
        WHERE id = 1
          AND (node IS NULL OR lease_until < now())
          AND NOT (node IS NOT NULL
                   AND lease_until > '-infinity'
                   AND pg_postmaster_start_time() > lease_until - make_interval(secs => $2::double precision / 1000)
                   AND now() < pg_postmaster_start_time() + make_interval(secs => $2::double precision / 1000))
        RETURNING epoch`,
      [this.node, this.leaseMs],
    );
    const row = r.rows[0];
    if (!row) return null;
    this.epochHeld = Number(row.epoch);
    this.trustedUntil = t0 + this.leaseMs - this.margin();
    return this.epochHeld;
  }

  /**
   * Renew the lease. Returns false when another node took over (the caller
   * must stop leading); throws when the database cannot be reached (the
   * lease is then trusted until it runs out, no longer).
   */
  async renew(): Promise<boolean> {
    if (this.epochHeld === null) return false;
    const t0 = this.clock();
    const r = await this.pool.query(
      `UPDATE leader SET lease_until = now() + make_interval(secs => $3::double precision / 1000)
        WHERE id = 1 AND node = $1 AND epoch = $2`,
      [this.node, this.epochHeld, this.leaseMs],
    );
    if (r.rowCount === 0) {
      this.trustedUntil = 0;
      return false;
    }
    this.trustedUntil = t0 + this.leaseMs - this.margin();
    return true;
  }

  /** Give the lease up at a clean stop, so a follower takes over at once. */
  async release(): Promise<void> {
    if (this.epochHeld === null) return;
    const epoch = this.epochHeld;
    this.trustedUntil = 0;
    await this.pool.query(`UPDATE leader SET lease_until = '-infinity' WHERE id = 1 AND node = $1 AND epoch = $2`, [this.node, epoch]);
  }

  /** The leader as the database sees it. */
  static async current(pool: Pool): Promise<{ node: string | null; epoch: number; leaseValid: boolean; since: Date }> {
    const r = await pool.query<{ node: string | null; epoch: string; valid: boolean; since: Date }>(
      'SELECT node, epoch, lease_until > now() AS valid, since FROM leader WHERE id = 1',
    );
    const row = r.rows[0]!;
    return { node: row.node, epoch: Number(row.epoch), leaseValid: row.valid, since: row.since };
  }

  /** Enough for a renewal to come back late without the lease being trusted past its end. */
  private margin(): number {
    return Math.min(500, this.leaseMs / 5);
  }
}

export class FencedError extends Error {
  constructor(readonly epoch: number) {
    super(`another node leads now: epoch ${epoch} is over`);
  }
}

/**
 * Run `fn` in a transaction that holds the leader row FOR SHARE and checks
 * that `node` still leads in `epoch`; throws FencedError otherwise.
 */
export async function fenced<T>(client: PoolClient, node: string, epoch: number, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const r = await client.query('SELECT 1 FROM leader WHERE id = 1 AND node = $1 AND epoch = $2 FOR SHARE', [node, epoch]);
    if (r.rowCount === 0) throw new FencedError(epoch);
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
