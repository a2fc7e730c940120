import { describe, expect, it } from 'vitest';
import { entryEvents, fieldValues, realtimeMs, renderRaw } from '../../src/sources/journal/journal-entry.js';
import { combineJournalMatches, parseJournalMatch } from '../../src/sources/journal/journal-follower.js';
import { followArgs, isCursor, matchArgs, sameEntry } from '../../src/sources/journal/journalctl-args.js';
import { LineSplitter } from '../../src/sources/journal/line-splitter.js';

const origin = (h: string | undefined) => (h === 'mx1.example.net' ? 'mx1' : (h ?? 'unknown'));
const bytes = (s: string | Buffer) => [...(Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1'))];

describe('a journal entry as journalctl -o json prints it', () => {
  it('becomes a LogEvent with time, host, origin, app, pid and message', () => {
    const [ev, ...rest] = entryEvents(
      {
        __CURSOR: 's=1;i=2',
        __REALTIME_TIMESTAMP: '1700000000123456',
        _HOSTNAME: 'mx1.example.net',
        SYSLOG_IDENTIFIER: 'imapd',
        _COMM: 'couriertcpd',
        _PID: '4711',
        MESSAGE: 'LOGIN FAILED, user=bob, ip=[::ffff:203.0.113.7]',
      },
      1700000001000,
      origin,
    );
    expect(rest).toEqual([]);
    expect(ev).toEqual({
      time: 1700000000123,
      received: 1700000001000,
      source: 'journal',
      hostname: 'mx1.example.net',
      origin: 'mx1',
      app: 'imapd',
      pid: '4711',
      message: 'LOGIN FAILED, user=bob, ip=[::ffff:203.0.113.7]',
      raw: 'mx1.example.net imapd[4711]: LOGIN FAILED, user=bob, ip=[::ffff:203.0.113.7]',
    });
  });

  it('takes the program from _COMM when there is no SYSLOG_IDENTIFIER, and SYSLOG_PID when there is no _PID', () => {
    const [ev] = entryEvents({ __REALTIME_TIMESTAMP: '1', _COMM: 'pop3d', SYSLOG_PID: '9', MESSAGE: 'x' }, 0, origin);
    expect(ev!.app).toBe('pop3d');
    expect(ev!.pid).toBe('9');
    expect(ev!.hostname).toBeUndefined();
    expect(ev!.origin).toBe('unknown');
    expect(ev!.raw).toBe('pop3d[9]: x');
  });

  it('decodes a byte-array MESSAGE as UTF-8, never as the list of numbers', () => {
    // "LOGIN FAILED, user=\x01\xff, ip=[203.0.113.9]": a control byte and invalid UTF-8 in the user name.
    const msg = Buffer.concat([Buffer.from('LOGIN FAILED, user='), Buffer.from([1, 0xff]), Buffer.from(', ip=[203.0.113.9]')]);
    const [ev] = entryEvents({ __REALTIME_TIMESTAMP: '1', MESSAGE: bytes(msg) }, 0, origin);
    expect(ev!.message).toBe('LOGIN FAILED, user=#001\uFFFD, ip=[203.0.113.9]');
    expect(ev!.message).not.toMatch(/\d+,\d+,\d+/);
  });

  it('writes control bytes as rsyslog does (#ooo) but keeps tab and newline', () => {
    expect(fieldValues({ M: bytes('a\rb\tc\nd\x7f\x1b[31m') }, 'M')).toEqual(['a#015b\tc\nd#177#033[31m']);
    // journalctl prints printable text with newlines as a plain string: kept as is.
    expect(fieldValues({ M: 'one\ntwo' }, 'M')).toEqual(['one\ntwo']);
  });

  it('hands each value of a repeated MESSAGE to the filters on its own, never joined', () => {
    const evs = entryEvents(
      { __REALTIME_TIMESTAMP: '1', SYSLOG_IDENTIFIER: ['imapd', 'evil'], MESSAGE: ['LOGIN FAILED, user=a', bytes(', ip=[203.0.113.1]\x01')] },
      0,
      origin,
    );
    expect(evs.map((e) => e.message)).toEqual(['LOGIN FAILED, user=a', ', ip=[203.0.113.1]#001']);
    expect(evs.every((e) => e.app === 'imapd')).toBe(true);
  });

  it('yields nothing for an entry without a usable MESSAGE', () => {
    expect(entryEvents({ __REALTIME_TIMESTAMP: '1' }, 0, origin)).toEqual([]);
    expect(entryEvents({ MESSAGE: null }, 0, origin)).toEqual([]);
    expect(entryEvents({ MESSAGE: { a: 1 } }, 0, origin)).toEqual([]);
    expect(entryEvents({ MESSAGE: [[1, 2, 999], 7] }, 0, origin)).toEqual([]);
    expect(entryEvents({ MESSAGE: [] }, 0, origin)).toEqual([]);
  });

  it('keeps an entry with a bad timestamp, with time NaN (the jail then uses the arrival time)', () => {
    const [ev] = entryEvents({ __REALTIME_TIMESTAMP: 'soon', MESSAGE: 'x' }, 5, origin);
    expect(ev!.message).toBe('x');
    expect(ev!.time).toBeNaN();
    expect(realtimeMs({ __REALTIME_TIMESTAMP: '-5' })).toBeNaN();
    expect(realtimeMs({ __REALTIME_TIMESTAMP: 17 })).toBeNaN();
  });

  it('renders the raw line as fail2ban presents a journal entry', () => {
    expect(renderRaw('h', 'app', '1', 'm')).toBe('h app[1]: m');
    expect(renderRaw('h', undefined, '1', 'm')).toBe('h m');
    expect(renderRaw(undefined, undefined, undefined, 'm')).toBe('m');
  });
});

describe('the line splitter', () => {
  it('cuts lines across chunks and hands them one at a time', () => {
    const sp = new LineSplitter(100);
    sp.feed(Buffer.from('{"a":1}\n{"b"'));
    expect(sp.next()!.toString()).toBe('{"a":1}');
    expect(sp.next()).toBeUndefined();
    sp.feed(Buffer.from(':2}\n{"c":3}\n'));
    expect(sp.next()!.toString()).toBe('{"b":2}');
    expect(sp.held).toBe(8);
    expect(sp.next()!.toString()).toBe('{"c":3}');
    expect(sp.next()).toBeUndefined();
    expect(sp.held).toBe(0);
  });

  it('drops a line longer than the limit without holding it, and counts it', () => {
    const sp = new LineSplitter(10);
    sp.feed(Buffer.from('x'.repeat(8)));
    sp.feed(Buffer.from('x'.repeat(8)));
    expect(sp.next()).toBeUndefined();
    expect(sp.held).toBe(0);
    sp.feed(Buffer.from('x'.repeat(1000)));
    expect(sp.held).toBe(1000);
    expect(sp.next()).toBeUndefined();
    expect(sp.held).toBe(0);
    sp.feed(Buffer.from('xx\nok\n' + 'y'.repeat(11) + '\nlast\n'));
    expect(sp.next()!.toString()).toBe('ok');
    expect(sp.next()!.toString()).toBe('last');
    expect(sp.oversize).toBe(2);
  });
});

describe('journal matches', () => {
  it('reads fail2ban journalmatch syntax: + and new lines start OR groups, quotes group words', () => {
    expect(parseJournalMatch('_SYSTEMD_UNIT=courier-imap.service _COMM=imapd + SYSLOG_IDENTIFIER=vpopmail\nMESSAGE="a b"')).toEqual([
      ['_SYSTEMD_UNIT=courier-imap.service', '_COMM=imapd'],
      ['SYSLOG_IDENTIFIER=vpopmail'],
      ['MESSAGE=a b'],
    ]);
    expect(() => parseJournalMatch('--since=yesterday')).toThrow(/FIELD=value/);
  });

  it('passes them to journalctl as separate arguments with + between groups', () => {
    expect(matchArgs([['A=1', 'B=2'], ['C=3']])).toEqual(['A=1', 'B=2', '+', 'C=3']);
    expect(() => matchArgs([['-n']])).toThrow();
  });

  it('combines jails: the union of their groups, or every entry when one jail has none', () => {
    expect(combineJournalMatches([[['A=1']], [['B=2'], ['A=1']]])).toEqual([['A=1'], ['B=2']]);
    expect(combineJournalMatches([[['A=1']], []])).toEqual([]);
  });

  it('starts at a cursor with --no-tail, so journalctl does not cut the backlog to ten entries', () => {
    const args = followArgs({ enabled: 'yes', directory: '/j', sinceSeconds: 0 }, { kind: 'after-cursor', cursor: 's=ab;i=1' }, [['A=1']]);
    expect(args).toContain('--no-tail');
    expect(args).toContain('--merge');
    expect(args).toContain('--cursor=s=ab;i=1');
    expect(args.slice(-1)).toEqual(['A=1']);
    expect(isCursor('s=030b;i=1;b=00;m=0;t=660c;x=c9b6')).toBe(true);
    expect(isCursor('s=1; rm -rf /')).toBe(false);
    expect(sameEntry('s=ab;i=1f;b=0;m=0;t=1;x=2', 's=ab;i=1f;b=0;m=0;t=1;x=2')).toBe(true);
    expect(sameEntry('s=ab;i=1f;b=0;m=0;t=1;x=2', 's=ab;i=1f;b=0;m=5;t=1;x=3')).toBe(true);
    expect(sameEntry('s=ab;i=1f', 's=ab;i=20')).toBe(false);
    expect(sameEntry('s=ab;i=1f', 's=cd;i=1f')).toBe(false);
  });
});
