import { describe, expect, test } from 'vitest';
import { parseStructuredData } from '../../src/syslog/structured-data.js';
import { parseSyslog, trimFrameEnd } from '../../src/syslog/syslog-parser.js';
import { Timezone } from '../../src/syslog/timezone.js';

const NOW = Date.parse('2026-11-21T20:00:00Z');
const utc = { now: NOW, zone: Timezone.utc };
const parse = (text: string, opts = utc) => parseSyslog(text, opts);
const iso = (t: number) => (Number.isNaN(t) ? null : new Date(t).toISOString());

describe('RFC 5424', () => {
  test('every header field, structured data and message', () => {
    const m = parse('<165>1 2026-11-21T22:14:15.003+02:00 mx1.example.com courieresmtpd 4711 AUTH [exampleSDID@32473 iut="3"] auth failed');
    expect(m).toMatchObject({
      format: 'rfc5424',
      facility: 20,
      severity: 5,
      hostname: 'mx1.example.com',
      app: 'courieresmtpd',
      pid: '4711',
      msgid: 'AUTH',
      structuredData: '[exampleSDID@32473 iut="3"]',
      message: 'auth failed',
    });
    expect(iso(m.time)).toBe('2026-11-21T20:14:15.003Z');
  });

  test('NILVALUE in every field', () => {
    const m = parse('<13>1 - - - - - - only text');
    expect(m).toMatchObject({ format: 'rfc5424', hostname: undefined, app: undefined, pid: undefined, msgid: undefined, structuredData: undefined, message: 'only text' });
    expect(m.time).toBeNaN();
  });

  test('no MSG at all, or a header cut short, keeps the fields it has', () => {
    expect(parse('<13>1 2026-11-21T19:00:00Z host app 1 ID -')).toMatchObject({ app: 'app', msgid: 'ID', message: '' });
    expect(parse('<13>1 2026-11-21T19:00:00Z host app')).toMatchObject({ hostname: 'host', app: 'app', pid: undefined, message: '' });
  });

  test('structured data with escapes, several elements, then text ending in "]"', () => {
    const m = parse('<134>1 2026-11-21T19:28:24Z vm app - ID47 [a@1 x="q\\"uote" y="br\\]acket"][b@2 z="back\\\\slash"] ip=[::ffff:198.51.100.7]');
    expect(m.message).toBe('ip=[::ffff:198.51.100.7]');
    expect(parseStructuredData(m.structuredData!)).toEqual([
      { id: 'a@1', params: [['x', 'q"uote'], ['y', 'br]acket']] },
      { id: 'b@2', params: [['z', 'back\\slash']] },
    ]);
  });

  test('a backslash before any other character stands for itself', () => {
    const m = parse('<13>1 - h a - - [x@1 path="C:\\dir"] m');
    expect(parseStructuredData(m.structuredData!)).toEqual([{ id: 'x@1', params: [['path', 'C:\\dir']] }]);
  });

  test('malformed structured data is kept as message text, not lost', () => {
    expect(parse('<13>1 - h a - - [broken x=1] text').message).toBe('[broken x=1] text');
    expect(parse('<13>1 - h a - - [unterminated x="1" text').message).toBe('[unterminated x="1" text');
  });

  test('the BOM before UTF-8 text is removed', () => {
    expect(parse('<13>1 - h a - - - \ufeffüser').message).toBe('üser');
  });

  test("rsyslog's two spaces before MSG", () => {
    expect(parse('<22>1 2026-11-21T19:28:34.907376+00:00 mx1 vpopmail 20410 - -  vchkpw-pop3: x').message).toBe('vchkpw-pop3: x');
  });

  test('"<13>1 apple" is RFC 3164 text that starts with "1 ", not RFC 5424', () => {
    expect(parse('<13>1 apple pie')).toMatchObject({ format: 'rfc3164', message: '1 apple pie', hostname: undefined });
  });

  test('timestamps: Z, offsets with and without colon, fractions, rejected nonsense', () => {
    expect(iso(parse('<13>1 2026-11-21T19:28:18Z h a - - - m').time)).toBe('2026-11-21T19:28:18.000Z');
    expect(iso(parse('<13>1 2026-11-21T19:28:18-0500 h a - - - m').time)).toBe('2026-11-22T00:28:18.000Z');
    expect(iso(parse('<13>1 2026-11-21T19:28:18.123456789+00:00 h a - - - m').time)).toBe('2026-11-21T19:28:18.123Z');
    // February 30th is no date: the line is read as RFC 3164 text, nothing is invented.
    const m = parse('<13>1 2026-02-30T19:28:18Z h a - - - m');
    expect(m.format).toBe('rfc3164');
    expect(m.time).toBeNaN();
  });
});

describe('RFC 3164', () => {
  test('Mmm dd hh:mm:ss host tag[pid]: message, the year inferred', () => {
    const m = parse('<22>Nov 21 19:28:18 vm vpopmail[20410]: vchkpw-pop3: vpopmail user not found www@:24.153.205.71');
    expect(m).toMatchObject({ format: 'rfc3164', facility: 2, severity: 6, hostname: 'vm', app: 'vpopmail', pid: '20410', message: 'vchkpw-pop3: vpopmail user not found www@:24.153.205.71' });
    expect(iso(m.time)).toBe('2026-11-21T19:28:18.000Z');
  });

  test('a single-digit day padded with a space, or not', () => {
    expect(iso(parse('<13>Nov  1 01:02:03 h a: m').time)).toBe('2026-11-01T01:02:03.000Z');
    expect(iso(parse('<13>Nov 1 01:02:03 h a: m').time)).toBe('2026-11-01T01:02:03.000Z');
  });

  test('"Dec 31" read on January 1st is last year', () => {
    const m = parse('<13>Dec 31 23:59:59 h a: m', { now: Date.parse('2027-01-01T00:00:10Z'), zone: Timezone.utc });
    expect(iso(m.time)).toBe('2026-12-31T23:59:59.000Z');
  });

  test("the stamp is read in the sender's zone", () => {
    const m = parse('<13>Nov 21 19:28:18 h a: m', { now: NOW, zone: Timezone.parse('Europe/Berlin') });
    expect(iso(m.time)).toBe('2026-11-21T18:28:18.000Z');
  });

  test('an ISO 8601 stamp in its place (RSYSLOG_ForwardFormat)', () => {
    const m = parse('<18>2026-11-21T19:28:35.216422+00:00 mx1.example.com imapd: LOGIN FAILED, user=foo, ip=[::ffff:198.51.100.7]');
    expect(m).toMatchObject({ hostname: 'mx1.example.com', app: 'imapd', pid: undefined, message: 'LOGIN FAILED, user=foo, ip=[::ffff:198.51.100.7]' });
    expect(iso(m.time)).toBe('2026-11-21T19:28:35.216Z');
  });

  test('no hostname: the word after the stamp is already the tag', () => {
    expect(parse('<13>Nov 21 19:28:18 sshd[12]: Failed password')).toMatchObject({ hostname: undefined, app: 'sshd', pid: '12', message: 'Failed password' });
    expect(parse('<13>Nov 21 19:28:18 imapd: LOGIN FAILED')).toMatchObject({ hostname: undefined, app: 'imapd', message: 'LOGIN FAILED' });
  });

  test('a message without tag keeps all its words', () => {
    expect(parse('<13>Nov 21 19:28:37 mx1 this message has no tag at all')).toMatchObject({ hostname: 'mx1', app: undefined, message: 'this message has no tag at all' });
  });

  test('tag[pid] without the colon, and a tag too long to be one', () => {
    expect(parse('<13>Nov 21 19:28:37 mx1 cron[77] started')).toMatchObject({ app: 'cron', pid: '77', message: 'started' });
    const long = 'x'.repeat(80);
    expect(parse(`<13>Nov 21 19:28:37 mx1 ${long}: m`)).toMatchObject({ app: undefined, message: `${long}: m` });
  });

  test('no stamp: tag and message only', () => {
    const m = parse('<13>sshd[1]: hello');
    expect(m).toMatchObject({ hostname: undefined, app: 'sshd', pid: '1', message: 'hello' });
    expect(m.time).toBeNaN();
  });
});

describe('what senders get wrong', () => {
  test('a space between PRI and the header, BSD or ISO stamp, RFC 3164 or 5424', () => {
    expect(parse('<38> Mar  7 19:06:53 mx1 imapd: m')).toMatchObject({ severity: 6, hostname: 'mx1', app: 'imapd', message: 'm' });
    expect(parse('<54> 2024-01-01T00:01:31+00:00 mx1 app: m')).toMatchObject({ format: 'rfc3164', hostname: 'mx1', app: 'app', message: 'm' });
    expect(parse('<54> 1 2024-01-01T00:01:31+00:00 mx1 app 12 ID - m')).toMatchObject({ format: 'rfc5424', hostname: 'mx1', app: 'app', pid: '12', message: 'm' });
  });

  test('a colon right after the clock', () => {
    const m = parse('<38>Mar  7 19:06:53: mx1 imapd: LOGIN FAILED');
    expect(m).toMatchObject({ hostname: 'mx1', app: 'imapd', message: 'LOGIN FAILED' });
    expect(iso(m.time)).toBe('2026-03-07T19:06:53.000Z');
    expect(parse('<13>Dec 28 16:49:07: mx1 app: m')).toMatchObject({ hostname: 'mx1', app: 'app', message: 'm' });
  });

  test('runs of spaces between RFC 5424 header fields are one separator each', () => {
    expect(parse('<13>1 2024-01-01T00:00:00Z  mx1   app  123  ID   -   m')).toMatchObject({ hostname: 'mx1', app: 'app', pid: '123', msgid: 'ID', message: 'm' });
  });

  test('whitespace or a newline before PRI', () => {
    for (const lead of [' ', '\n', '\r\n', '\t', '  \n ']) {
      expect(parse(`${lead}<13>Mar  7 19:06:53 mx1 imapd: m`)).toMatchObject({ facility: 1, hostname: 'mx1', app: 'imapd', message: 'm' });
    }
    // Without a PRI after it, nothing is taken for one.
    expect(parse(' \n<x> text')).toMatchObject({ facility: undefined, message: '\n<x> text' });
  });

  test('a stamp cut short at the end of the text is no stamp (never NaN fields passing the range checks)', () => {
    for (const cut of ['2024-01-01T00:00:0', '2024-01-01T00:0', '2024-01-01T00:00:00+01', '2024-01-0']) {
      const m = parse(`<13>1 ${cut}`);
      expect(m.format).toBe('rfc3164');
      expect(m.message).toBe(`1 ${cut}`);
    }
    expect(parse('<13>Mar  7 19:06:5').message).toBe('Mar  7 19:06:5');
    expect(parse('<13>Mar ').message).toBe('Mar ');
  });

  test('control characters never reach a header field raw: written #ooo as rsyslog does, or the word is no host name', () => {
    expect(parse('<13>1 2024-01-01T00:00:00Z mx1\nfake ap\tp 1\r2 - - m')).toMatchObject({ hostname: 'mx1#012fake', app: 'ap#011p', pid: '1#0152' });
    expect(parse('<13>Mar  7 19:06:53 mx1 ima\npd[1\n2]: m')).toMatchObject({ hostname: 'mx1', app: 'ima#012pd', pid: '1#0122', message: 'm' });
    expect(parse('<13>Mar  7 19:06:53 mx1\nfake imapd: m')).toMatchObject({ hostname: undefined, app: undefined, message: 'mx1\nfake imapd: m' });
  });

  test('no PRI: facility unknown, the header is still read', () => {
    expect(parse('Nov 21 19:28:18 vm imapd: LOGIN FAILED')).toMatchObject({ facility: undefined, severity: undefined, hostname: 'vm', app: 'imapd', message: 'LOGIN FAILED' });
  });

  test('<0> is kernel emergency, a valid PRI', () => {
    expect(parse('<0>Nov 21 19:28:38 mx1 kern: prival zero')).toMatchObject({ facility: 0, severity: 0, app: 'kern' });
  });

  test('PRI above 191, or not a number, is no PRI: every byte stays in the message', () => {
    expect(parse('<192>Nov 21 19:28:38 mx1 kern: x')).toMatchObject({ facility: undefined, message: '<192>Nov 21 19:28:38 mx1 kern: x' });
    expect(parse('<1a>text')).toMatchObject({ facility: undefined, message: '<1a>text' });
    expect(parse('<1234>text')).toMatchObject({ facility: undefined, message: '<1234>text' });
  });

  test('empty message and PRI alone', () => {
    expect(parse('')).toMatchObject({ message: '', facility: undefined });
    expect(parse('<13>')).toMatchObject({ message: '', facility: 1, severity: 5 });
  });

  test('trailing LF, CR LF and NUL are framing, not message', () => {
    const bytes = Buffer.from('<13>Nov 21 19:28:18 h a: m\r\n\0');
    expect(trimFrameEnd(bytes, 0, bytes.length)).toBe(bytes.length - 3);
    expect(trimFrameEnd(Buffer.from('\n\n'), 0, 2)).toBe(0);
  });

  test('a 70 KB message is parsed whole', () => {
    const body = 'A'.repeat(70_000);
    expect(parse(`<22>Nov 21 19:28:20 vm postfix/cleanup[4321]: ${body}`).message).toBe(body);
  });

  test('random bytes never throw', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const alphabet = '<>0123456789 -[]"\\=:T.+Z\ufeffNovDecabc\u0000\n';
    for (let n = 0; n < 20_000; n++) {
      let s = n % 3 === 0 ? '<13>1 ' : n % 3 === 1 ? '<13>Nov 21 ' : '';
      const len = Math.floor(rnd() * 60);
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
      const m = parse(s);
      expect(typeof m.message).toBe('string');
    }
  });
});
