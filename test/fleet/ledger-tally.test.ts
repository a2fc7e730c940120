import type Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { LedgerStore, type LedgerBanStates, type LedgerCounts, type LedgerKey, type LedgerWant } from '../../src/fleet/ledger.js';
import { openStateDb } from './harness.js';

/** What counts() and banStates() must say: counted afresh from the table, the slow way. */
function recount(db: Database.Database): { counts: Map<string, LedgerCounts>; states: LedgerBanStates } {
  const counts = new Map<string, LedgerCounts>();
  for (const r of db.prepare('SELECT host, status, count(*) AS n FROM ledger GROUP BY host, status').all() as { host: string; status: keyof LedgerCounts; n: number }[]) {
    let c = counts.get(r.host);
    if (!c) counts.set(r.host, (c = { pending: 0, applied: 0, failed: 0 }));
    c[r.status] = r.n;
  }
  const states: LedgerBanStates = { acknowledged: 0, pending: 0, failed: 0 };
  const bans = db
    .prepare(`SELECT sum(status = 'failed') AS f, sum(status = 'pending') AS p FROM ledger WHERE want = 'ban' GROUP BY jail, ip`)
    .all() as { f: number; p: number }[];
  for (const b of bans) states[b.f > 0 ? 'failed' : b.p > 0 ? 'pending' : 'acknowledged']++;
  return { counts, states };
}

function expectTallyTrue(l: LedgerStore): void {
  const truth = recount(l.db);
  expect(l.counts()).toEqual(truth.counts);
  expect(l.banStates()).toEqual(truth.states);
}

/** A small deterministic random sequence, so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed;
  return () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
}

describe("the ledger's tally (host counts and ban states without a pass over the ledger)", () => {
  it('stays equal to a fresh count through every kind of change', () => {
    const l = new LedgerStore(openStateDb());
    const r = rng(7);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const hosts = ['mx1', 'mx2', 'mx3'];
    const key = (): LedgerKey => ({ host: pick(hosts), jail: pick(['vpopmail', 'courier-auth']), ip: `203.0.113.${1 + Math.floor(r() * 6)}` });
    const seen = new Set<string>();
    for (let step = 0; step < 600; step++) {
      const k = key();
      const want: LedgerWant = r() < 0.6 ? 'ban' : 'unban';
      switch (Math.floor(r() * 7)) {
        case 0:
        case 1:
          l.record([{ ...k, want }, { ...key(), want: 'ban' }]);
          break;
        case 2:
          l.settle([{ ...k, want, ok: r() < 0.7, error: 'RTNETLINK answers: File exists' }]);
          break;
        case 3:
          l.interrupted([{ ...k, want }], 'session lost');
          break;
        case 4:
          l.timedOut([{ ...k, want }], 'no answer within 10 s');
          break;
        case 5:
          l.reopen(k.host, r() < 0.5 ? k.jail : undefined);
          break;
        default:
          if (r() < 0.2) l.forgetJail(k.host, k.jail);
          else l.settle([{ ...k, want, ok: true }]);
      }
      expectTallyTrue(l);
      for (const [state, n] of Object.entries(l.banStates())) if (n > 0) seen.add(state);
    }
    // The sequence did reach every state, or the test proves little.
    expect([...seen].sort()).toEqual(['acknowledged', 'failed', 'pending']);
  });

  it('counts the rows already in the file when it opens', () => {
    const db = openStateDb();
    const insert = db.prepare("INSERT INTO ledger (host, jail, ip, want, status, updated) VALUES (?, 'vpopmail', ?, ?, ?, 0)");
    insert.run('mx1', '203.0.113.1', 'ban', 'applied');
    insert.run('mx2', '203.0.113.1', 'ban', 'pending');
    insert.run('mx1', '203.0.113.2', 'ban', 'applied');
    insert.run('mx2', '203.0.113.2', 'ban', 'applied');
    insert.run('mx1', '203.0.113.3', 'ban', 'failed');
    insert.run('mx2', '203.0.113.3', 'unban', 'pending');
    const l = new LedgerStore(db);
    expect(l.counts()).toEqual(
      new Map([
        ['mx1', { pending: 0, applied: 2, failed: 1 }],
        ['mx2', { pending: 2, applied: 1, failed: 0 }],
      ]),
    );
    expect(l.banStates()).toEqual({ acknowledged: 1, pending: 1, failed: 1 });
  });

  it('counts again when the cluster replaces the table, and after a write of its own failed', () => {
    const l = new LedgerStore(openStateDb());
    l.record([{ host: 'mx1', jail: 'vpopmail', ip: '203.0.113.1', want: 'ban' }]);
    // A node taking over replaces the whole local ledger with PostgreSQL's, and says so.
    l.db.exec("DELETE FROM ledger; INSERT INTO ledger (host, jail, ip, want, status, updated) VALUES ('mx7', 'vpopmail', '203.0.113.9', 'ban', 'applied', 0)");
    LedgerStore.tableReplaced(l.db);
    expect(l.counts()).toEqual(new Map([['mx7', { pending: 0, applied: 1, failed: 0 }]]));
    expect(l.banStates()).toEqual({ acknowledged: 1, pending: 0, failed: 0 });
    // The second row breaks a constraint: the transaction takes back the first, and so does the tally.
    const broken = { host: null as unknown as string, jail: 'vpopmail', ip: '203.0.113.11', want: 'ban' as const };
    expect(() => l.record([{ host: 'mx8', jail: 'vpopmail', ip: '203.0.113.10', want: 'ban' }, broken])).toThrow(/NOT NULL/);
    expect(l.counts().has('mx8')).toBe(false);
    expectTallyTrue(l);
  });
});
