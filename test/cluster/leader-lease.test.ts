import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FencedError, LeaderLease, fenced } from '../../src/cluster/leader-lease.js';
import { migratePg, PG_MIGRATIONS } from '../../src/cluster/pg-schema.js';
import { TestPostgres, missingPostgres } from '../helpers/postgres.js';

const skip = missingPostgres('leader lease');

describe.skipIf(skip)('the leader lease in PostgreSQL', () => {
  let db: TestPostgres;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await TestPostgres.start();
    pool = new pg.Pool({ host: db.sockDir, user: 'postgres', database: db.database, max: 4 });
    pool.on('error', () => undefined);
    const c = await pool.connect();
    try {
      // Two nodes migrating at once: one migrates, the other finds it done.
      const c2 = await pool.connect();
      const [a, b] = await Promise.all([migratePg(c), migratePg(c2)]);
      c2.release();
      expect([a, b].sort()).toEqual([0, PG_MIGRATIONS.length]);
    } finally {
      c.release();
    }
  });
  afterAll(async () => {
    await pool?.end();
    db?.destroy();
  });

  it('is held by one node at a time; the epoch grows at each takeover; a fenced write of the old leader fails', async () => {
    let clock = 0;
    const a = new LeaderLease(pool, 'a', 1000, () => clock);
    const b = new LeaderLease(pool, 'b', 1000, () => clock);
    const e1 = await a.tryAcquire();
    expect(e1).not.toBeNull();
    expect(await b.tryAcquire()).toBeNull();
    expect(a.valid()).toBe(true);
    // a is frozen: its own clock says the lease is over before the database's does.
    clock = 900;
    expect(a.valid()).toBe(false);
    await new Promise((r) => setTimeout(r, 1100));
    const e2 = await b.tryAcquire();
    expect(e2).toBe(e1! + 1);
    expect(await LeaderLease.current(pool)).toMatchObject({ node: 'b', epoch: e2, leaseValid: true });
    // a resumes: renewing tells it another node leads; a write it tries is refused.
    expect(await a.renew()).toBe(false);
    const c = await pool.connect();
    try {
      await expect(fenced(c, 'a', e1!, async (x) => x.query('SELECT 1'))).rejects.toBeInstanceOf(FencedError);
      await expect(fenced(c, 'b', e2!, async (x) => (await x.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n)).resolves.toBe(1);
    } finally {
      c.release();
    }
    // A clean stop hands over at once.
    await b.release();
    expect(await a.tryAcquire()).toBe(e2! + 1);
    await a.release();
  });

  it('stays with its holder across a restart of PostgreSQL', async () => {
    const a = new LeaderLease(pool, 'a', 1500);
    const b = new LeaderLease(pool, 'b', 1500);
    const e = await a.tryAcquire();
    expect(e).not.toBeNull();
    db.stopNow();
    await new Promise((r) => setTimeout(r, 1600));
    db.start();
    // The lease ran out while the database was down: b may not take it yet, a renews it.
    expect(await b.tryAcquire().catch(async () => b.tryAcquire())).toBeNull();
    expect(await a.renew()).toBe(true);
    expect((await LeaderLease.current(pool)).node).toBe('a');
    await a.release();
  });
});
