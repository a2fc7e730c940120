import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFilter } from '../../src/filters/filter.js';
import { MAX_LINE_BYTES, scanLogFile } from '../../src/filters/log-scan.js';
import { runGuarded } from '../../src/filters/regex-guard.js';
import type { LogEvent } from '../../src/model/log-event.js';
import { waitFor } from '../helpers/wait.js';

const CONF = new URL('../../conf', import.meta.url).pathname;
const MB = 1 << 20;
const P = 'Mar  1 10:00:00 mx1 ';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fleetban-bad-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, content: Buffer | string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

function scan(path: string, spec: string) {
  const hits: Array<{ line: number; ip: string }> = [];
  const counts = scanLogFile(path, loadFilter(CONF, spec), (line, _t, r) => {
    if (r.kind === 'failure') hits.push({ line, ip: r.match.ip });
  });
  return { counts, hits };
}

/** Lines an attacker can make the Courier and vchkpw daemons write, a megabyte long. */
const hostile: Array<[string, string]> = [
  ['courier-auth', P + 'imapd: LOGIN FAILED, ' + 'a=, '.repeat(MB / 4) + 'x'],
  ['courier-auth', P + 'imapd: LOGIN FAILED, user=' + ', ip=[1.1.1.1]x'.repeat(MB / 15)],
  ['courier-auth', P + 'imapd: LOGIN FAILED, ' + 'user=, '.repeat(MB / 7)],
  ['courier-auth', P + ' '.repeat(MB) + 'imapd: LOGIN FAILED, x'],
  ['vpopmail', P + "vpopmail[1]: vchkpw-pop3: password fail (pass: '" + "') ".repeat(MB / 3) + 'x'],
  ['vpopmail', P + 'vpopmail[1]: vchkpw-pop3: null password given ' + ':1:'.repeat(MB / 3)],
  ['vpopmail', P + 'vpopmail[1]: vchkpw-pop3: null password given ' + 'a '.repeat(MB / 2) + ':203.0.113.5x'],
  ['courier-smtp', P + 'courieresmtpd: error,relay=1.2.3.4,msg="535 Authentication failed.",cmd:' + ' a'.repeat(MB / 2) + ' '],
  ['courier-smtp', P + 'courieresmtpd: error,relay=1.2.3.4,' + ':'.repeat(MB) + ': 550 User x'],
];

describe('hostile input', () => {
  it.each(hostile.map(([spec, line], i) => [spec, i, line] as const))(
    '%s: 1 MB crafted line #%i is decided in well under a second',
    (spec, _i, line) => {
      const f = loadFilter(CONF, spec);
      const t0 = performance.now();
      f.matchLine(line);
      const ev: LogEvent = { time: 1, received: 1, source: 'udp', origin: 'mx1', hostname: 'mx1', app: 'imapd', message: line.slice(P.length), raw: '' };
      f.matchEvent(ev);
      expect(performance.now() - t0).toBeLessThan(500);
    },
  );

  it('a failure at the start of a 1 MB line is still found; the text beyond the limit is not looked at', () => {
    const line = P + 'imapd: LOGIN FAILED, user=a, ip=[::ffff:203.0.113.5]' + ', x=y'.repeat(MB / 5);
    const r = loadFilter(CONF, 'courier-auth').matchLine(line);
    // The trailer is cut at the limit, so the anchored end is not reached: no false match either way.
    expect(['failure', 'missed']).toContain(r.kind);
  });

  it('a regex that backtracks exponentially is stopped and the line counted, not hung on', async () => {
    // fail2ban's courier-auth.conf shape: both alternatives match "user=".
    const regexDir = mkdtempSync(join(tmpdir(), 'fleetban-redos-'));
    try {
      writeFileSync(
        join(regexDir, 'redos.conf'),
        '[Definition]\nfailregex = ^\\s*\\S+ imapd: LOGIN FAILED, (?:(?!ip=)(?:user=<F-USER>[^,]*</F-USER>|\\w+=[^,]*), )*ip=\\[<HOST>\\]\n',
      );
      const lines = [P + 'imapd: LOGIN FAILED, user=a, ip=[::ffff:203.0.113.5]', P + 'imapd: LOGIN FAILED, ' + 'user=, '.repeat(60), P + 'imapd: LOGIN FAILED, user=b, ip=[::ffff:203.0.113.6]'];
      const log = file('redos.log', lines.join('\n') + '\n');
      const hits: string[] = [];
      const counts = scanLogFile(log, loadFilter(CONF, join(regexDir, 'redos.conf')), (_n, _l, r) => {
        if (r.kind === 'failure') hits.push(r.match.ip);
      });
      expect(counts).toMatchObject({ lines: 3, matched: 2, missed: 1, tooSlow: 1 });
      expect(hits).toEqual(['203.0.113.5', '203.0.113.6']);
      // The same for a batch of events through matchEvents.
      const f = loadFilter(CONF, join(regexDir, 'redos.conf'));
      const ev = (message: string): LogEvent => ({ time: 1, received: 1, source: 'tcp', origin: 'mx1', hostname: 'mx1', app: 'imapd', message, raw: '' });
      const rs = f.matchEvents(lines.map((l) => ev(l.slice(P.length + 'imapd: '.length))));
      expect(rs.map((r) => r.kind)).toEqual(['failure', 'missed', 'failure']);
      // Handed to the retry worker, which gives up on it too: only then is it lost, and counted.
      expect(f.losses.retried).toBe(1);
      await waitFor('the retry worker to give up on the crafted line', () => f.losses.tooSlow === 1 || JSON.stringify(f.losses));
    } finally {
      rmSync(regexDir, { recursive: true, force: true });
    }
  });

  it('runGuarded stops a runaway regex', () => {
    const re = /^(a+)+$/;
    expect(runGuarded(() => re.test('a'.repeat(40) + 'b'), 50)).toBe(false);
    expect(runGuarded(() => re.test('aaa'), 50)).toBe(true);
  });
});

describe('bytes that are not text', () => {
  it('invalid UTF-8 is read as U+FFFD and the line still matches (one bad byte must not save an attacker)', () => {
    const log = file(
      'bad-utf8.log',
      Buffer.concat([
        Buffer.from(P + 'imapd: LOGIN FAILED, user=\xff'.replace('\xff', ''), 'utf8'),
        Buffer.from([0xff, 0xfe, 0xc3]),
        Buffer.from(', ip=[::ffff:203.0.113.5]\n' + P + 'imapd: LOGIN FAILED, user=ok, ip=[::ffff:203.0.113.6]\n', 'utf8'),
      ]),
    );
    const { counts, hits } = scan(log, 'courier-auth');
    expect(counts).toMatchObject({ lines: 2, matched: 2, invalidUtf8: 1 });
    expect(hits.map((h) => h.ip)).toEqual(['203.0.113.5', '203.0.113.6']);
  });

  it('NUL bytes are counted and matched around', () => {
    const log = file('nul.log', P + 'imapd: LOGIN FAILED, user=a\u0000b, ip=[::ffff:203.0.113.5]\n');
    const { counts, hits } = scan(log, 'courier-auth');
    expect(counts).toMatchObject({ lines: 1, matched: 1, nulBytes: 1 });
    expect(hits[0]!.ip).toBe('203.0.113.5');
  });

  it('lines longer than the limit are matched on their start and counted; the next line is read normally', () => {
    const long = P + 'imapd: LOGIN FAILED, user=' + 'x'.repeat(MAX_LINE_BYTES + 10) + ', ip=[::ffff:203.0.113.5]';
    const huge = P + 'imapd: ' + 'y'.repeat(6 * MB);
    const log = file('long.log', [long, huge, P + 'imapd: LOGIN FAILED, user=a, ip=[::ffff:203.0.113.7]', ''].join('\n'));
    const { counts, hits } = scan(log, 'courier-auth');
    expect(counts).toMatchObject({ lines: 3, truncated: 2, matched: 1 });
    expect(hits).toEqual([{ line: 3, ip: '203.0.113.7' }]);
  });

  it('CRLF line ends, empty lines and # comments are handled as fail2ban-regex does', () => {
    const log = file('crlf.log', '# a comment\r\n\r\n' + P + 'imapd: LOGIN FAILED, user=a, ip=[::ffff:203.0.113.5]\r\n');
    const { counts, hits } = scan(log, 'courier-auth');
    expect(counts.lines).toBe(1);
    expect(hits).toEqual([{ line: 3, ip: '203.0.113.5' }]);
  });

  it('an empty file and a file without a final newline', () => {
    expect(scan(file('empty.log', ''), 'courier-auth').counts.lines).toBe(0);
    expect(scan(file('nonl.log', P + 'imapd: LOGIN FAILED, user=a, ip=[203.0.113.9]'), 'courier-auth').hits).toEqual([{ line: 1, ip: '203.0.113.9' }]);
  });
});
