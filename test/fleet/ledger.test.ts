import { describe, expect, it } from 'vitest';
import { LedgerStore } from '../../src/fleet/ledger.js';
import { openStateDb } from './harness.js';

const key = { host: 'mx1', jail: 'vpopmail', ip: '203.0.113.5' };

describe('the per-host ledger', () => {
  it('records a ban as pending before it is sent, applied when acknowledged', () => {
    const l = new LedgerStore(openStateDb(), () => 1000);
    expect(l.record([{ ...key, want: 'ban' }])).toEqual([true]);
    expect(l.get(key)).toMatchObject({ want: 'ban', status: 'pending', attempts: 0, updated: 1000 });
    l.settle([{ ...key, want: 'ban', ok: true }]);
    expect(l.get(key)).toMatchObject({ want: 'ban', status: 'applied', attempts: 1, error: null });
    // Banning again what the host has needs no command.
    expect(l.record([{ ...key, want: 'ban' }])).toEqual([false]);
    expect(l.hostsOf('vpopmail', '203.0.113.5')).toEqual({ mx1: 'applied' });
  });

  it('deletes the row when the host acknowledges the unban', () => {
    const l = new LedgerStore(openStateDb());
    l.record([{ ...key, want: 'ban' }]);
    l.settle([{ ...key, want: 'ban', ok: true }]);
    expect(l.record([{ ...key, want: 'unban' }])).toEqual([true]);
    expect(l.get(key)).toMatchObject({ want: 'unban', status: 'pending', attempts: 0 });
    expect(l.hostsOf('vpopmail', '203.0.113.5')).toEqual({});
    l.settle([{ ...key, want: 'unban', ok: true }]);
    expect(l.get(key)).toBeUndefined();
    // Nothing on the host: an unban needs no command.
    expect(l.record([{ ...key, want: 'unban' }])).toEqual([false]);
  });

  it('ignores an answer to a want that has changed since', () => {
    const l = new LedgerStore(openStateDb());
    l.record([{ ...key, want: 'ban' }]);
    l.record([{ ...key, want: 'unban' }]);
    l.settle([{ ...key, want: 'ban', ok: true }]);
    expect(l.get(key)).toMatchObject({ want: 'unban', status: 'pending' });
  });

  it('keeps the error of a refused command, and counts attempts of interrupted ones', () => {
    const l = new LedgerStore(openStateDb());
    l.record([{ ...key, want: 'ban' }]);
    l.interrupted([{ ...key, want: 'ban' }], 'no answer within 10 s');
    expect(l.get(key)).toMatchObject({ status: 'pending', attempts: 1, error: 'no answer within 10 s' });
    l.settle([{ ...key, want: 'ban', ok: false, error: 'RTNETLINK answers: Operation not permitted\n' }]);
    expect(l.get(key)).toMatchObject({ status: 'failed', attempts: 2, error: 'RTNETLINK answers: Operation not permitted' });
    expect(l.outstanding('mx1').map((r) => r.status)).toEqual(['failed']);
    expect(l.counts().get('mx1')).toEqual({ pending: 0, applied: 0, failed: 1 });
  });

  it('counts a command the host hung on as failed after three timeouts', () => {
    const l = new LedgerStore(openStateDb());
    l.record([{ ...key, want: 'ban' }]);
    l.timedOut([{ ...key, want: 'ban' }], 'no answer within 10 s');
    l.timedOut([{ ...key, want: 'ban' }], 'no answer within 10 s');
    expect(l.get(key)).toMatchObject({ status: 'pending', attempts: 2 });
    l.timedOut([{ ...key, want: 'ban' }], 'no answer within 10 s');
    expect(l.get(key)).toMatchObject({ status: 'failed', attempts: 3, error: 'no answer within 10 s' });
  });

  it('reopens applied bans of a host that lost them', () => {
    const l = new LedgerStore(openStateDb());
    const rows = ['a', 'b'].flatMap((jail) => ['203.0.113.1', '203.0.113.2'].map((ip) => ({ host: 'mx1', jail, ip, want: 'ban' as const })));
    l.record(rows);
    l.settle(rows.map((r) => ({ ...r, ok: true })));
    expect(l.reopen('mx1', 'a')).toBe(2);
    expect(l.outstanding('mx1').map((r) => r.jail)).toEqual(['a', 'a']);
    expect(l.reopen('mx1')).toBe(2);
    expect(l.counts().get('mx1')).toEqual({ pending: 4, applied: 0, failed: 0 });
  });

  it('remembers the boot id of each host', () => {
    const db = openStateDb();
    new LedgerStore(db).setBootId('mx1', 'boot-1');
    expect(new LedgerStore(db).bootId('mx1')).toBe('boot-1');
  });

  it('lists per ban the state on each host in one query', () => {
    const l = new LedgerStore(openStateDb());
    l.record([
      { host: 'mx1', jail: 'j', ip: '203.0.113.1', want: 'ban' },
      { host: 'mx2', jail: 'j', ip: '203.0.113.1', want: 'ban' },
    ]);
    l.settle([{ host: 'mx2', jail: 'j', ip: '203.0.113.1', want: 'ban', ok: true }]);
    expect(l.allHosts().get('j\u0000203.0.113.1')).toEqual({ mx1: 'pending', mx2: 'applied' });
  });
});
