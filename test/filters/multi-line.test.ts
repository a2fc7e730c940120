import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Filter, type FilterResult, loadFilter } from '../../src/filters/filter.js';
import { RecentMap } from '../../src/filters/recent-map.js';
import { StateJournal } from '../../src/filters/state-journal.js';
import type { LogEvent } from '../../src/model/log-event.js';
import { missing } from '../helpers/requirements.js';

/**
 * Filters that look past one line, as fail2ban's do (docs/filters.md):
 * the `maxlines` buffer with `<SKIPLINES>`, and connections merged by
 * `<F-MLFID>` with `<F-NOFAIL>`, `<F-MLFGAINED>` and `<F-MLFFORGET>`,
 * each kept per mail server and bounded in memory.
 */

let dir: string;

function filterFile(name: string, text: string): string {
  mkdirSync(join(dir, 'filter.d'), { recursive: true });
  writeFileSync(join(dir, 'filter.d', `${name}.conf`), text);
  return name;
}

const NOW = Date.UTC(2026, 2, 1, 12, 0, 0);

function event(origin: string, message: string, at = NOW): LogEvent {
  return { time: at, received: at, source: 'udp', origin, hostname: origin, app: 'sshd', pid: message.startsWith('[') ? undefined : '100', message, raw: message };
}

function ips(results: FilterResult[]): Array<string | null> {
  return results.map((r) => (r.kind === 'failure' ? r.match.ip : null));
}

/** A mongodb-auth-like filter: the failure names its connection, the address comes when it ends (events: after the server's name). */
const CONNECTION = `[Definition]
failregex = ^(?:mx\\d )?conn(?P<__c>\\d+) auth failed<SKIPLINES>(?:mx\\d )?conn(?P=__c) closed from <HOST>$
maxlines = 5
datepattern = {NONE}
`;

/** An sshd-like filter: one connection per pid, its address on its first line only. */
const SSHD = `[Definition]
prefregex = ^<F-MLFID>\\S+ sshd\\[\\d+\\]: </F-MLFID><F-CONTENT>.+</F-CONTENT>$
failregex = ^<F-NOFAIL>Connection from</F-NOFAIL> <HOST> port \\d+$
            ^Failed password for <F-USER>\\S+</F-USER>$
            ^<F-MLFGAINED>Accepted publickey for <F-USER>\\S+</F-USER></F-MLFGAINED>$
            ^<F-NOFAIL><F-MLFFORGET>Disconnected</F-MLFFORGET></F-NOFAIL>$
datepattern = {NONE}
`;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fleetban-multiline-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('maxlines and <SKIPLINES>', () => {
  it('finds a failure spread over lines, the lines in between kept for later matches', () => {
    const f = loadFilter(dir, filterFile('conn', CONNECTION));
    expect(f.stateful).toBe(true);
    const lines = ['conn1 auth failed', 'conn2 auth failed', 'conn1 closed from 203.0.113.1', 'conn2 closed from 203.0.113.2'];
    expect(lines.map((l) => f.matchLine(l, NOW)).map((r) => (r.kind === 'failure' ? r.match.ip : null))).toEqual([
      null,
      null,
      '203.0.113.1',
      '203.0.113.2',
    ]);
  });

  it('keeps one buffer per mail server: mx2 never completes what mx1 began', () => {
    const f = loadFilter(dir, filterFile('conn', CONNECTION));
    const r = f.matchEvents([
      { ...event('mx1', 'conn1 auth failed'), app: undefined },
      { ...event('mx2', 'conn1 closed from 203.0.113.7'), app: undefined },
      { ...event('mx1', 'conn1 closed from 203.0.113.8'), app: undefined },
    ]);
    expect(ips(r)).toEqual([null, null, '203.0.113.8']);
  });

  it('fleetban regex reads a file with the same buffer', async () => {
    filterFile('conn', CONNECTION);
    const log = join(dir, 'conn.log');
    writeFileSync(log, 'conn1 auth failed\nconn2 auth failed\nnoise\nconn2 closed from 203.0.113.2\nconn1 closed from 203.0.113.1\n');
    const root = new URL('../..', import.meta.url).pathname;
    const r = await execa('npx', ['tsx', join(root, 'src/cli/main.ts'), '-c', dir, 'regex', log, 'conn', '--json'], { cwd: root, reject: false });
    expect(r.exitCode).toBe(0);
    const out = JSON.parse(r.stdout) as { lines: number; hits: Array<{ line: number; ip: string }> };
    expect(out.lines).toBe(5);
    expect(out.hits.map((h) => [h.line, h.ip])).toEqual([
      [4, '203.0.113.2'],
      [5, '203.0.113.1'],
    ]);
  });

  it('forgets lines older than the buffer', () => {
    const f = loadFilter(dir, filterFile('conn', CONNECTION));
    const lines = ['conn1 auth failed', 'a', 'b', 'c', 'd', 'conn1 closed from 203.0.113.1'];
    expect(lines.map((l) => f.matchLine(l, NOW).kind)).toEqual(['missed', 'missed', 'missed', 'missed', 'missed', 'missed']);
  });
});

describe('connections (<F-MLFID>)', () => {
  it('gives a failure the address an earlier line of its connection named', () => {
    const f = loadFilter(dir, filterFile('sshd-like', SSHD));
    const r = f.matchEvents([
      event('mx1', 'Connection from 203.0.113.5 port 4000'),
      event('mx1', 'Failed password for root'),
    ]);
    expect(r[0]!.kind).toBe('ignored');
    expect(r[1]).toMatchObject({ kind: 'failure', match: { ip: '203.0.113.5', fields: { user: 'root' } } });
  });

  it('never counts an accepted login, nor the lines that opened its connection', () => {
    const f = loadFilter(dir, filterFile('sshd-like', SSHD));
    const r = f.matchEvents([event('mx1', 'Connection from 203.0.113.5 port 4000'), event('mx1', 'Accepted publickey for alice')]);
    expect(r.map((x) => x.kind)).toEqual(['ignored', 'ignored']);
  });

  it('counts an accepted login after attempts with other users (as fail2ban does)', () => {
    const f = loadFilter(dir, filterFile('sshd-like', SSHD));
    const r = f.matchEvents([
      event('mx1', 'Connection from 203.0.113.5 port 4000'),
      event('mx1', 'Failed password for root'),
      event('mx1', 'Accepted publickey for alice'),
    ]);
    expect(ips(r)).toEqual([null, '203.0.113.5', '203.0.113.5']);
  });

  it('keeps connections apart per mail server: the same pid on mx2 is another connection', () => {
    const f = loadFilter(dir, filterFile('sshd-like', SSHD));
    const r = f.matchEvents([
      event('mx1', 'Connection from 203.0.113.5 port 4000'),
      { ...event('mx2', 'Failed password for root'), hostname: 'mx1' },
    ]);
    // Same text on both servers (the line names mx1 either way), but mx2's line has no address of its own.
    expect(ips(r)).toEqual([null, null]);
  });

  it('forgets a connection when it ends', () => {
    const f = loadFilter(dir, filterFile('sshd-like', SSHD));
    const r = f.matchEvents([
      event('mx1', 'Connection from 203.0.113.5 port 4000'),
      event('mx1', 'Disconnected'),
      event('mx1', 'Failed password for root'),
    ]);
    expect(ips(r)).toEqual([null, null, null]);
  });

  it('forgets a connection not seen for mlfidcachetime seconds', () => {
    const f = loadFilter(dir, filterFile('sshd-like', SSHD), { mlfidcachetime: '60' });
    const r1 = f.matchEvent(event('mx1', 'Connection from 203.0.113.5 port 4000', NOW));
    const r2 = f.matchEvent(event('mx1', 'Failed password for root', NOW + 61_000));
    expect(ips([r1, r2])).toEqual([null, null]);
  });

  it('holds at most mlfidcachesize connections; each one evicted is counted', () => {
    const f = loadFilter(dir, filterFile('sshd-like', SSHD), { mlfidcachesize: '2' });
    const open = (pid: number, n: number) => ({ ...event('mx1', `Connection from 203.0.113.${n} port 4000`), pid: String(pid) });
    const fail = (pid: number) => ({ ...event('mx1', 'Failed password for root'), pid: String(pid) });
    const r = f.matchEvents([open(1, 1), open(2, 2), open(3, 3), fail(1), fail(3)]);
    // Connection 1 was evicted by 3: its failure has no address any more (and, new, evicts 2).
    expect(ips(r)).toEqual([null, null, null, null, '203.0.113.3']);
    expect(f.losses.multilineEvicted).toBe(2);
  });

  it('a guarded attempt that is run again sees each line once', () => {
    const f: Filter = loadFilter(dir, filterFile('sshd-like', SSHD));
    f.beginAttempt();
    f.matchEvent(event('mx1', 'Connection from 203.0.113.5 port 4000'));
    // The attempt was stopped: the next one starts from the state before it.
    f.beginAttempt();
    expect(f.matchEvent(event('mx1', 'Failed password for root')).kind).not.toBe('failure');
    f.commitAttempt();
  });
});

describe.skipIf(missing("fail2ban's sshd.conf", { commands: ['/etc/fail2ban/filter.d/sshd.conf'] }))("fail2ban's own sshd.conf, on a fleet", () => {
  /** Two cloned servers that both call themselves `mail`: only the origin (fleet.conf's name) tells them apart. */
  const sshd = (origin: string, pid: string, message: string): LogEvent => ({ ...event(origin, message), hostname: 'mail', pid });

  it('a connection is per server, an accepted login never counts, a failure gets its connection\'s address', () => {
    const f = loadFilter('/etc/fail2ban', 'sshd');
    expect(f.stateful).toBe(true);
    const r = f.matchEvents([
      sshd('mx1', '500', 'Connection from 203.0.113.20 port 5000 on 198.18.0.1 port 22'),
      sshd('mx2', '500', 'Disconnecting: Too many authentication failures for root [preauth]'),
      sshd('mx1', '500', 'Disconnecting: Too many authentication failures for root [preauth]'),
      sshd('mx1', '600', 'Connection from 203.0.113.21 port 5001 on 198.18.0.1 port 22'),
      sshd('mx1', '600', 'Accepted publickey for alice from 203.0.113.21 port 5001 ssh2: ED25519 SHA256:abc'),
    ]);
    expect(ips(r)).toEqual([null, null, '203.0.113.20', null, null]);
    expect(r[2]).toMatchObject({ match: { fields: { user: 'root' } } });
  });
});

describe('the bounded memory itself (RecentMap)', () => {
  it('evicts the least recently used entries when the total size is over its bound, counting each', () => {
    let evicted = 0;
    const m = new RecentMap<string>(100, 60_000, new StateJournal(), (n) => (evicted += n), (v) => v.length, 10);
    m.set('a', 'xxxx', NOW);
    m.set('b', 'yyyy', NOW);
    m.get('a', NOW);
    m.set('a', 'xxxx', NOW); // a is now the most recent
    m.set('c', 'zzzz', NOW); // 12 > 10: b goes
    expect([m.get('a', NOW), m.get('b', NOW), m.get('c', NOW)]).toEqual(['xxxx', undefined, 'zzzz']);
    expect(m.totalWeight).toBe(8);
    expect(evicted).toBe(1);
  });

  it('a rolled-back attempt leaves the map and its counts as they were', () => {
    let evicted = 0;
    const journal = new StateJournal();
    const m = new RecentMap<string>(1, 60_000, journal, (n) => (evicted += n), (v) => v.length);
    m.set('a', 'x', NOW);
    journal.begin();
    m.set('b', 'yy', NOW); // evicts a, inside the attempt
    journal.rollback();
    expect(journal.commit()).toBe(0);
    expect([m.get('a', NOW), m.get('b', NOW), m.totalWeight, evicted]).toEqual(['x', undefined, 1, 0]);
  });
});
