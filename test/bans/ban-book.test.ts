import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Ban } from '../../src/bans/ban.js';
import { BanBook, type BanEvent } from '../../src/bans/ban-book.js';
import { SqliteStateStore } from '../../src/state/sqlite-state-store.js';
import type { BanCommit, StateChange } from '../../src/state/state-store.js';
import { Clock, T0, silent } from '../jails/helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempFile(): string {
  const d = mkdtempSync(join(tmpdir(), 'fleetban-book-'));
  dirs.push(d);
  return join(d, 'state.sqlite');
}

const ban = (ip: string, o: Partial<Ban> = {}): Ban => ({
  jail: 'vpopmail',
  ip,
  since: T0,
  until: T0 + 3_600_000,
  count: 1,
  failures: 3,
  scope: { kind: 'fleet' },
  origins: ['mx1'],
  fields: { user: 'bob' },
  matches: ['vchkpw-pop3: password fail (pass: ***) bob@example.com'],
  manual: false,
  ...o,
});
const history = (b: Ban) => ({ jail: b.jail, ip: b.ip, time: b.since, banTime: 3600, count: b.count });

/** A book on its own state, with a hand-moved clock and a subscriber that keeps what it heard. */
function book(state = SqliteStateStore.open(':memory:', { flushMs: 0 }), clock = new Clock()) {
  const b = new BanBook({ state, logger: silent, now: clock.now, timers: false, audience: (x) => (x.scope.kind === 'fleet' ? ['mx1', 'mx2'] : []) });
  const heard: BanEvent[] = [];
  b.subscribe((e) => heard.push(e));
  return { book: b, state, clock, heard };
}

describe('the ban book', () => {
  it('stores a ban before anyone hears of it, then announces it once with the hosts the fleet names', () => {
    const { book: b, state, heard } = book();
    b.restore(new Set(['vpopmail']));
    const seenInState: boolean[] = [];
    b.subscribe((e) => seenInState.push(state.loadBans().some((x) => x.ip === e.ban.ip)));
    expect(b.commit(ban('203.0.113.1'), history(ban('203.0.113.1')))).toEqual({ created: true, ban: ban('203.0.113.1') });
    expect(seenInState).toEqual([true]);
    expect(heard).toEqual([{ kind: 'ban', ban: ban('203.0.113.1'), hosts: ['mx1', 'mx2'], remote: false }]);
    expect(b.get('vpopmail', '203.0.113.1')).toEqual(ban('203.0.113.1'));
    expect(b.jail('vpopmail').has('203.0.113.1')).toBe(true);
    expect(b.size()).toBe(1);
  });

  it('tells every subscriber, even when one of them throws', () => {
    const { book: b } = book();
    b.restore(new Set(['vpopmail']));
    const fleet: string[] = [];
    const recidive: string[] = [];
    const metrics: string[] = [];
    b.subscribe((e) => fleet.push(`${e.kind} ${e.ban.ip}`));
    b.subscribe(() => {
      throw new Error('a broken subscriber');
    });
    b.subscribe((e) => recidive.push(`${e.kind} ${e.ban.ip}`));
    const stop = b.subscribe((e) => metrics.push(`${e.kind} ${e.ban.ip}`));
    b.commit(ban('203.0.113.2'), history(ban('203.0.113.2')));
    stop();
    b.lift([{ jail: 'vpopmail', ip: '203.0.113.2' }], 'manual');
    expect(fleet).toEqual(['ban 203.0.113.2', 'unban 203.0.113.2']);
    expect(recidive).toEqual(['ban 203.0.113.2', 'unban 203.0.113.2']);
    expect(metrics).toEqual(['ban 203.0.113.2']);
  });

  it('loses nothing when the process dies between the commit and the push', () => {
    const file = tempFile();
    const child = spawnSync(process.execPath, ['--import', 'tsx', new URL('./fixtures/crash-after-commit.ts', import.meta.url).pathname, file], {
      encoding: 'utf8',
    });
    // Killed inside the first subscriber: nothing after it heard of the ban.
    expect(child.signal).toBe('SIGKILL');
    expect(child.stdout).toBe('');
    const { book: b, state, heard } = book(SqliteStateStore.open(file, { flushMs: 0 }));
    try {
      b.restore(new Set(['vpopmail']));
      // The ban is back, in force, and the ledger has no row for it: the
      // fleet's reconciliation (which reads the book) sends it to every host.
      expect([...b.active()].map((x) => [x.jail, x.ip, x.failures, x.origins])).toEqual([['vpopmail', '203.0.113.9', 3, ['mx1']]]);
      expect(state.ledger().hostsOf('vpopmail', '203.0.113.9')).toEqual({});
      expect(heard).toEqual([]);
    } finally {
      state.close();
    }
  });

  it('restores the bans in force at start, and lifts and announces those that ended meanwhile or whose jail is gone', () => {
    const state = SqliteStateStore.open(':memory:', { flushMs: 0 });
    const first = book(state);
    first.book.restore(new Set(['vpopmail', 'courier-auth']));
    first.book.commit(ban('203.0.113.1'), history(ban('203.0.113.1')));
    first.book.commit(ban('203.0.113.2', { until: T0 + 60_000 }), history(ban('203.0.113.2')));
    first.book.commit(ban('203.0.113.3', { until: null }), history(ban('203.0.113.3')));
    first.book.commit(ban('203.0.113.4', { jail: 'courier-auth' }), history(ban('203.0.113.4', { jail: 'courier-auth' })));
    first.book.stop();

    // Two minutes later, without courier-auth.
    const clock = new Clock();
    clock.advance(120);
    const again = book(state, clock);
    again.book.restore(new Set(['vpopmail']));
    expect([...again.book.active()].map((x) => x.ip).sort()).toEqual(['203.0.113.1', '203.0.113.3']);
    expect(again.heard.map((e) => [e.kind, e.ban.ip, e.kind === 'unban' ? e.reason : ''])).toEqual([
      ['unban', '203.0.113.2', 'start'],
      ['unban', '203.0.113.4', 'start'],
    ]);
    expect(state.loadBans().map((x) => x.ip).sort()).toEqual(['203.0.113.1', '203.0.113.3']);
  });

  it('lifts a ban when its time is up, removed from the state before it is announced; a ban for ever stays', () => {
    const { book: b, state, clock, heard } = book();
    b.restore(new Set(['vpopmail']));
    b.commit(ban('203.0.113.1', { until: T0 + 600_000 }), history(ban('203.0.113.1')));
    b.commit(ban('203.0.113.3', { until: null }), history(ban('203.0.113.3')));
    const inStateWhenHeard: boolean[] = [];
    b.subscribe((e) => inStateWhenHeard.push(state.loadBans().some((x) => x.ip === e.ban.ip)));
    clock.advance(599);
    expect(b.expire()).toEqual([]);
    clock.advance(1);
    expect(b.expire()).toEqual([ban('203.0.113.1', { until: T0 + 600_000 })]);
    expect(inStateWhenHeard).toEqual([false]);
    expect(heard.at(-1)).toMatchObject({ kind: 'unban', reason: 'expired', ban: { ip: '203.0.113.1' }, hosts: ['mx1', 'mx2'] });
    clock.advance(86_400 * 365);
    expect(b.expire()).toEqual([]);
    expect([...b.active()].map((x) => x.ip)).toEqual(['203.0.113.3']);
  });

  it('keeps one ban per jail and address when two nodes commit at once: the second adopts the first, announced as remote', () => {
    const state = SqliteStateStore.open(':memory:', { flushMs: 0 });
    const a = book(state);
    const b = book(state);
    a.book.restore(new Set(['vpopmail']));
    b.book.restore(new Set(['vpopmail']));
    const mine = ban('203.0.113.7', { origins: ['mx1'] });
    const theirs = ban('203.0.113.7', { origins: ['mx2'], since: T0 + 1 });
    expect((a.book.commit(mine, history(mine)) as BanCommit).created).toBe(true);
    const second = b.book.commit(theirs, history(theirs));
    expect(second).toEqual({ created: false, ban: mine });
    expect(state.loadBans()).toEqual([mine]);
    expect(a.heard.map((e) => [e.kind, e.kind === 'ban' && e.remote])).toEqual([['ban', false]]);
    expect(b.heard.map((e) => [e.kind, e.kind === 'ban' && e.remote])).toEqual([['ban', true]]);
    expect(b.book.committed).toBe(0);
  });

  it("follows other nodes' bans and unbans from the store's change feed", () => {
    // The SQLite store has no other nodes: its feed is replaced by one the test drives, as a cluster's would.
    const state = SqliteStateStore.open(':memory:', { flushMs: 0 });
    const feed: { listener?: (c: StateChange) => void } = {};
    state.changes = (listener) => {
      feed.listener = listener;
      return () => (feed.listener = undefined);
    };
    const { book: b, heard } = book(state);
    b.restore(new Set(['vpopmail']));
    feed.listener!({ kind: 'ban', node: 'central-b', ban: ban('198.51.100.4') });
    feed.listener!({ kind: 'ban', node: 'central-b', ban: ban('198.51.100.4') });
    expect(b.get('vpopmail', '198.51.100.4')).toEqual(ban('198.51.100.4'));
    feed.listener!({ kind: 'unban', node: 'central-b', jail: 'vpopmail', ip: '198.51.100.4', reason: 'manual' });
    expect(heard.map((e) => [e.kind, e.ban.ip, e.remote])).toEqual([
      ['ban', '198.51.100.4', true],
      ['unban', '198.51.100.4', true],
    ]);
    expect(b.size()).toBe(0);
    b.stop();
    expect(feed.listener).toBeUndefined();
  });
});
