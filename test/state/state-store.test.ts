import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/state/migrations.js';
import { SqliteStateStore } from '../../src/state/sqlite-state-store.js';
import type { Ban } from '../../src/bans/ban.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempFile(): string {
  const d = mkdtempSync(join(tmpdir(), 'fleetban-store-'));
  dirs.push(d);
  return join(d, 'sub', 'state.sqlite');
}

const ban = (ip: string, o: Partial<Ban> = {}): Ban => ({
  jail: 'vpopmail',
  ip,
  since: 1000,
  until: 3_601_000,
  count: 1,
  failures: 3,
  scope: { kind: 'fleet' },
  origins: ['mx1'],
  fields: { user: 'bob' },
  matches: ['line'],
  manual: false,
  ...o,
});

describe('the state database', () => {
  it('is created with WAL, the latest schema version and the ledger table the fleet uses', () => {
    const file = tempFile();
    const s = SqliteStateStore.open(file);
    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(s.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    const cols = s.db.prepare<[], { name: string; pk: number; notnull: number }>("SELECT name, pk, \"notnull\" FROM pragma_table_info('ledger')").all();
    expect(cols.map((c) => c.name)).toEqual(['host', 'jail', 'ip', 'want', 'status', 'error', 'attempts', 'updated']);
    expect(cols.filter((c) => c.pk > 0).map((c) => c.name)).toEqual(['host', 'jail', 'ip']);
    expect(() => s.db.prepare("INSERT INTO ledger (host, jail, ip, want, status, updated) VALUES ('a','b','c','maybe','pending',0)").run()).toThrow(/CHECK/);
    s.close();
    // Opening again migrates nothing and keeps data.
    const again = SqliteStateStore.open(file);
    expect(again.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    again.close();
  });

  it('refuses a database written by a newer fleetban', () => {
    const file = tempFile();
    SqliteStateStore.open(file).close();
    const raw = new Database(file);
    raw.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    raw.close();
    expect(() => SqliteStateStore.open(file)).toThrow(/newer than this fleetban knows/);
  });

  it('keeps bans with their lines and fields, and the ledger status of each per host', () => {
    const s = SqliteStateStore.open(':memory:', { flushMs: 0 });
    s.commitBan(ban('203.0.113.1'), { jail: 'vpopmail', ip: '203.0.113.1', time: 1000, banTime: 3600, count: 1 });
    s.commitBan(ban('203.0.113.2', { until: null, since: 2000 }), { jail: 'vpopmail', ip: '203.0.113.2', time: 2000, banTime: -1, count: 1 });
    const led = s.db.prepare('INSERT INTO ledger (host, jail, ip, want, status, updated) VALUES (?, ?, ?, ?, ?, 0)');
    led.run('mx1', 'vpopmail', '203.0.113.1', 'ban', 'applied');
    led.run('mx2', 'vpopmail', '203.0.113.1', 'ban', 'failed');
    led.run('mx3', 'vpopmail', '203.0.113.1', 'unban', 'pending');
    expect(s.ledger().allHosts()).toEqual(new Map([['vpopmail\u0000203.0.113.1', { mx1: 'applied', mx2: 'failed' }]]));
    expect(s.loadBans()).toEqual([ban('203.0.113.1'), ban('203.0.113.2', { until: null, since: 2000 })]);
    expect(s.removeBans([{ jail: 'vpopmail', ip: '203.0.113.1' }, { jail: 'vpopmail', ip: '203.0.113.9' }])).toBe(1);
    s.close();
  });

  it('keeps one ban per jail and address: a second commit writes nothing and returns the ban in force', () => {
    const s = SqliteStateStore.open(':memory:', { flushMs: 0 });
    const first = s.commitBan(ban('203.0.113.5'), { jail: 'vpopmail', ip: '203.0.113.5', time: 1000, banTime: 3600, count: 1 });
    expect(first).toEqual({ created: true, ban: ban('203.0.113.5') });
    const again = s.commitBan(ban('203.0.113.5', { since: 5000, count: 2 }), { jail: 'vpopmail', ip: '203.0.113.5', time: 5000, banTime: 7200, count: 2 });
    expect(again).toEqual({ created: false, ban: ban('203.0.113.5') });
    expect(s.history('vpopmail', '203.0.113.5')).toMatchObject({ count: 1, banTime: 3600 });
    expect(s.loadBans()).toHaveLength(1);
    s.close();
  });

  it("forgets ban history as fail2ban's dbpurgeage does, never a permanent ban's", () => {
    const s = SqliteStateStore.open(':memory:', { flushMs: 0 });
    const day = 86400_000;
    const h = (ip: string, time: number, banTime: number) => s.commitBan(ban(ip), { jail: 'vpopmail', ip, time, banTime, count: 1 });
    h('203.0.113.1', 0, 600); // banned 5.5 days ago for 10 minutes: forgotten
    h('203.0.113.2', 0, 2 * 86400); // banned as long ago, but for 2 days: kept until 3 x 2 days after
    h('203.0.113.3', 0, -1); // permanent: kept
    h('203.0.113.4', 5 * day, 600); // half a day ago: kept
    const dbPurgeAge = day;
    expect(s.purgeHistory(5.5 * day - dbPurgeAge)).toBe(1);
    expect(s.history('vpopmail', '203.0.113.1')).toBeUndefined();
    expect(s.history('vpopmail', '203.0.113.2')).toMatchObject({ count: 1 });
    expect(s.purgeHistory(8 * day - dbPurgeAge)).toBe(2);
    expect(s.history('vpopmail', '203.0.113.2')).toBeUndefined();
    expect(s.history('vpopmail', '203.0.113.3')).toMatchObject({ banTime: -1 });
    s.close();
  });

  it('writes failures and cursors behind, together, on flush', () => {
    const file = tempFile();
    const s = SqliteStateStore.open(file, { flushMs: 0 });
    const cursor = s.cursorStore('journal');
    expect(cursor.load()).toBeUndefined();
    let calls = 0;
    s.onFlush(() => {
      calls++;
      s.writeFailures('vpopmail', [{ ip: '203.0.113.1', times: [1, 2], origins: ['mx1', 'mx2'] }]);
    });
    cursor.save('c1');
    expect(cursor.load()).toBe('c1');
    const other = new Database(file, { readonly: true });
    expect(other.prepare('SELECT count(*) AS n FROM cursors').get()).toEqual({ n: 0 });
    s.flush();
    expect(calls).toBe(1);
    expect(other.prepare('SELECT source, cursor FROM cursors').all()).toEqual([{ source: 'journal', cursor: 'c1' }]);
    expect([...s.loadFailures('vpopmail', 0)]).toEqual([{ ip: '203.0.113.1', times: [1, 2], origins: ['mx1', 'mx2'] }]);
    expect([...s.loadFailures('vpopmail', 3)]).toEqual([]);
    other.close();
    s.close();
  });
});
