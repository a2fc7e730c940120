import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { History } from '../../src/history/history.js';
import { newestOf, WebData } from '../../src/web/web-data.js';

const bans = (times: number[]) => times.map((since, i) => ({ since, ip: `203.0.113.${i}` }));

describe('the overview lists the 100 newest bans', () => {
  it('finds the newest, newest first, whatever order the bans come in', () => {
    const times = Array.from({ length: 5000 }, (_, i) => (i * 7919) % 5003);
    for (const order of [times, [...times].sort((a, b) => a - b), [...times].sort((a, b) => b - a)]) {
      const list = bans(order);
      const expected = [...list].sort((a, b) => b.since - a.since).slice(0, 100).map((b) => b.since);
      expect(newestOf(list, 100).map((b) => b.since)).toEqual(expected);
    }
  });

  it('lists all of them when there are fewer, and none of none', () => {
    expect(newestOf(bans([3, 1, 2]), 100).map((b) => b.since)).toEqual([3, 2, 1]);
    expect(newestOf([], 100)).toEqual([]);
  });
});

describe('the overview follows the bans in force', () => {
  it('shows a ban the book announced, and one a restore added without announcing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetban-webdata-'));
    const history = new History({ file: join(dir, 'state.sqlite3'), retentionMs: 86_400_000, counters: () => new Map() });
    try {
      const bans = [{ jail: 'vpopmail', ip: '203.0.113.1', since: 1000, until: null, count: 1 }];
      const data = new WebData({
        jails: () => [],
        active: () => [...bans],
        activeCount: () => bans.length,
        ledger: { hostsOf: () => ({}), banStates: () => ({ acknowledged: 0, pending: 0, failed: 0 }) },
        hosts: () => [],
        sources: () => [],
        senders: () => [],
        history,
        node: 'central',
      });
      const listed = () => (data.overview('hour') as { bans: { ip: string }[] }).bans.map((b) => b.ip);
      expect(listed()).toEqual(['203.0.113.1']);
      // Replaced under the same count: shown once the book says so.
      bans[0] = { ...bans[0]!, ip: '203.0.113.2', since: 2000 };
      data.bansChanged();
      expect(listed()).toEqual(['203.0.113.2']);
      // Added without an announcement (a restore): the count tells.
      bans.push({ jail: 'vpopmail', ip: '203.0.113.3', since: 3000, until: null, count: 1 });
      expect(listed()).toEqual(['203.0.113.3', '203.0.113.2']);
    } finally {
      history.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
