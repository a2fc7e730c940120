import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStateStore } from '../../src/state/sqlite-state-store.js';
import { ensureBuilt } from '../helpers/build.js';
import { TestPostgres, missingPostgres } from '../helpers/postgres.js';
import { cli, removeConfDir, ServiceProcess, testConfDir } from '../helpers/service-process.js';

const skip = missingPostgres('fleetban state copy');

describe.skipIf(skip)('fleetban state copy --to postgresql://...', () => {
  let db: TestPostgres;
  let conf: string;
  const now = Date.now();

  beforeAll(async () => {
    ensureBuilt();
    db = await TestPostgres.start();
    conf = testConfDir({});
    // A single host's state: two bans (one banned for the third time), history, pending failures, the ledger.
    const state = SqliteStateStore.open(join(conf, '..', 'var', 'fleetban.sqlite3'), { flushMs: 0 });
    const ban = (ip: string, count: number) => ({
      jail: 'vpopmail',
      ip,
      since: now,
      until: now + 3600_000,
      count,
      failures: 5,
      scope: { kind: 'fleet' } as const,
      origins: ['mx1'],
      fields: { user: 'bob@example.com' },
      matches: ['vchkpw-pop3: password fail (pass: ***) bob@example.com:203.0.113.20'],
      manual: false,
    });
    state.commitBan(ban('203.0.113.20', 1), { jail: 'vpopmail', ip: '203.0.113.20', time: now, banTime: 3600, count: 1 });
    state.commitBan(ban('203.0.113.21', 3), { jail: 'vpopmail', ip: '203.0.113.21', time: now, banTime: 14400, count: 3 });
    state.onFlush(() => state.writeFailures('vpopmail', [{ ip: '198.51.100.9', times: [now - 2000, now - 1000], origins: ['mx1', 'mx2'] }]));
    state.flush();
    state.db.prepare(`INSERT INTO ledger (host, jail, ip, want, status, error, attempts, updated) VALUES ('mx1', 'vpopmail', '203.0.113.20', 'ban', 'applied', NULL, 1, ?)`).run(now);
    state.close();
  });
  afterAll(() => {
    db?.destroy();
    if (conf) removeConfDir(conf);
  });

  it('keeps every ban with its history, matches, ledger and pending failures', async () => {
    const r = cli(conf, 'state', 'copy', '--to', db.url);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/2 bans, 2 history rows, 2 failures, 1 ledger rows/);
    expect(await db.query('SELECT ip, count, until - since AS length, matches FROM bans ORDER BY ip')).toEqual([
      { ip: '203.0.113.20', count: 1, length: '3600000', matches: ['vchkpw-pop3: password fail (pass: ***) bob@example.com:203.0.113.20'] },
      { ip: '203.0.113.21', count: 3, length: '3600000', matches: ['vchkpw-pop3: password fail (pass: ***) bob@example.com:203.0.113.20'] },
    ]);
    expect(await db.query('SELECT ip, count, bantime FROM ban_history ORDER BY ip')).toEqual([
      { ip: '203.0.113.20', count: 1, bantime: '3600' },
      { ip: '203.0.113.21', count: 3, bantime: '14400' },
    ]);
    expect(await db.query('SELECT host, ip, status FROM ledger')).toEqual([{ host: 'mx1', ip: '203.0.113.20', status: 'applied' }]);
    // Copying again changes nothing.
    expect(cli(conf, 'state', 'copy', '--to', db.url).stdout).toMatch(/0 bans, 0 history rows.*already there, kept/);
  });

  it('gives a node started on PostgreSQL the same bans', async () => {
    const node = testConfDir({
      files: { 'fleetban.d/cluster.conf': `[state]\nbackend = postgresql\nurl = ${db.url}\nnode = n1\nlease = 2\n` },
    });
    const svc = await ServiceProcess.start(node);
    try {
      const list = JSON.parse(cli(node, 'banned', '--json').stdout) as { ip: string; count: number }[];
      expect(list.map((b) => [b.ip, b.count]).sort()).toEqual([
        ['203.0.113.20', 1],
        ['203.0.113.21', 3],
      ]);
    } finally {
      await svc.stop('SIGKILL');
      removeConfDir(node);
    }
  });

  it('refuses a url it cannot use, without showing its password', () => {
    const r = cli(conf, 'state', 'copy', '--to', 'postgresql://fb:hunter2@/x');
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('hunter2');
  });
});
