import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { History } from '../../src/history/history.js';
import { MAX_TALLY } from '../../src/history/history-store.js';
import type { LogEvent } from '../../src/model/log-event.js';

const DAY = 86_400_000;
const T0 = Date.parse('2025-03-01T10:00:00Z');

let dir: string;
let file: string;
let now: number;
let counters: Map<string, number>;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fleetban-history-'));
  file = join(dir, 'fleetban.sqlite3');
  now = T0;
  counters = new Map();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const open = (o: { retentionMs?: number; maxAttackers?: number } = {}) =>
  new History({ file, retentionMs: o.retentionMs ?? 14 * DAY, counters: () => new Map(counters), now: () => now, maxAttackers: o.maxAttackers });

const event = (origin: string): LogEvent => ({ time: now, received: now, source: 'udp', origin, message: '', raw: '' });
const minute = (t: number) => Math.floor(t / 60_000);

describe('per-minute history', () => {
  it('stores what each counter added per minute, and shows the unfinished minute live', () => {
    const h = open();
    counters.set('failures|vpopmail', 3);
    now += 10_000;
    h.tick();
    let r = h.series('failures|', minute(T0), minute(T0) + 2, 1);
    expect(r.series).toEqual([{ name: 'vpopmail', values: [3, 0] }]);

    counters.set('failures|vpopmail', 10);
    now = T0 + 60_000 + 5_000; // the next minute began: 10 - 0 went to the first minute
    h.tick();
    counters.set('failures|vpopmail', 12);
    now += 5_000;
    h.tick();
    r = h.series('failures|', minute(T0), minute(T0) + 2, 1);
    expect(r.series).toEqual([{ name: 'vpopmail', values: [10, 2] }]);
    h.stop();
  });

  it('survives a restart: the plots come back from the state database', () => {
    const h = open();
    counters.set('source.received|udp 0.0.0.0:514', 40);
    now += 61_000;
    h.tick();
    h.stop();
    // The service starts again: its counters start from zero.
    counters.set('source.received|udp 0.0.0.0:514', 0);
    const again = open();
    counters.set('source.received|udp 0.0.0.0:514', 5);
    now += 1_000;
    again.tick();
    expect(again.series('source.received|', minute(T0), minute(T0) + 2, 1).series).toEqual([{ name: 'udp 0.0.0.0:514', values: [40, 5] }]);
    again.stop();
  });

  it('buckets a week into half hours', () => {
    const h = open();
    for (let i = 0; i < 90; i++) {
      counters.set('bans|courier-auth', i + 1);
      now = T0 + i * 60_000 + 1_000;
      h.tick();
    }
    const r = h.series('bans|', minute(T0) - 30, minute(T0) + 90, 30);
    expect(r.minutes).toHaveLength(4);
    expect(r.series[0]!.values.reduce((a, b) => a + b, 0)).toBe(90);
    h.stop();
  });

  it('forgets minutes, attackers and lines older than the retention', () => {
    const h = open({ retentionMs: 14 * DAY });
    counters.set('failures|vpopmail', 1);
    h.onMatch('vpopmail', { ip: '203.0.113.5', time: now, fields: {}, line: 'old line' }, event('mx1'));
    now += 61_000;
    h.tick();
    now += 15 * DAY;
    counters.set('failures|vpopmail', 2);
    h.onMatch('vpopmail', { ip: '198.51.100.5', time: now, fields: {}, line: 'new line' }, event('mx1'));
    h.tick();
    expect(h.store.series('failures|', minute(T0), minute(now) - 60, 1).series.flatMap((x) => x.values).filter((v) => v > 0)).toHaveLength(0);
    expect(h.attackers(10).map((a) => a.ip)).toEqual(['198.51.100.5']);
    expect(h.attacker('203.0.113.5').lines).toEqual([]);
    h.stop();
  });
});

describe('attackers', () => {
  it('keeps per address the jails, mail servers and user names tried, and lines without passwords', () => {
    const h = open();
    const ip = '203.0.113.7';
    h.onMatch('vpopmail', { ip, time: now, fields: { user: 'alice@example.com' }, line: "vchkpw-pop3: password fail (pass: '***') alice@example.com:203.0.113.7" }, event('mx1'));
    // A line that reached the history with a password in it (it must not, but if it did) is scrubbed on the way in.
    h.onMatch('courier-auth', { ip, time: now + 1000, fields: { user: 'bob' }, line: 'imapd: LOGIN bob hunter2' }, event('mx2'));
    const a = h.attacker(ip);
    expect(a.attacker).toMatchObject({ failures: 2, jails: { vpopmail: 1, 'courier-auth': 1 }, origins: { mx1: 1, mx2: 1 }, users: { 'alice@example.com': 1, bob: 1 } });
    expect(a.lines.map((l) => l.line).join('\n')).not.toContain('hunter2');
    expect(JSON.stringify(a)).not.toContain('hunter2');
    h.stop();
  });

  it('caps what one address can grow: user names kept and lines per address', () => {
    const h = open();
    const ip = '203.0.113.8';
    for (let i = 0; i < 500; i++) h.onMatch('vpopmail', { ip, time: now + i, fields: { user: `user${i}` }, line: `line ${i}` }, event('mx1'));
    h.tick();
    for (let i = 500; i < 600; i++) h.onMatch('vpopmail', { ip, time: now + i, fields: { user: `user${i}` }, line: `line ${i}` }, event('mx1'));
    const a = h.attacker(ip);
    expect(a.attacker!.failures).toBe(600);
    expect(Object.keys(a.attacker!.users).length).toBeLessThanOrEqual(MAX_TALLY);
    expect(a.lines.length).toBe(20);
    expect(a.lines[0]!.line).toBe('line 599');
    h.stop();
  });

  it('keeps at most maxAttackers addresses, dropping those seen longest ago', () => {
    const h = open({ maxAttackers: 3 });
    for (let i = 1; i <= 5; i++) h.onMatch('vpopmail', { ip: `198.51.100.${i}`, time: now + i, fields: {}, line: 'x' }, event('mx1'));
    now += 2 * 3_600_000;
    h.tick();
    expect(h.attackers(10).map((a) => a.ip).sort()).toEqual(['198.51.100.3', '198.51.100.4', '198.51.100.5']);
    h.stop();
  });

  it('records bans and unbans, and searches by network', () => {
    const h = open();
    h.onMatch('vpopmail', { ip: '203.0.113.9', time: now, fields: {}, line: 'x' }, event('mx1'));
    h.onMatch('vpopmail', { ip: '198.51.100.9', time: now, fields: {}, line: 'x' }, event('mx1'));
    h.onBan({ jail: 'vpopmail', ip: '203.0.113.9', since: now, until: now + 3_600_000, count: 1, failures: 5, scope: { kind: 'fleet' }, origins: ['mx1'], fields: {}, matches: [], manual: false });
    now += 1000;
    h.onUnban('vpopmail', '203.0.113.9', 'unban');
    expect(h.attacker('203.0.113.9').events.map((e) => e.kind)).toEqual(['unban', 'ban']);
    expect(h.attackers(10, (ip) => ip.startsWith('203.0.113.')).map((a) => a.ip)).toEqual(['203.0.113.9']);
    h.stop();
  });
});

describe('the history tables', () => {
  it('live in the state database beside the ban store, with their own version, never user_version', () => {
    open().stop();
    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(0);
      expect(db.prepare('SELECT version FROM history_schema').get()).toEqual({ version: 1 });
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map((r) => (r as { name: string }).name);
      expect(tables).toEqual(['history_attacker', 'history_event', 'history_line', 'history_minute', 'history_schema']);
    } finally {
      db.close();
    }
  });
});
