import dgram from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { missing } from '../helpers/requirements.js';
import { startRsyslog, type Rsyslog } from '../helpers/rsyslog.js';
import { waitFor } from '../helpers/wait.js';
import { listenConfig, startListeners, type Running } from './listener-fixture.js';

// Syslog forms real senders write, with a real rsyslogd as the reference:
// each form goes to rsyslog (which writes what it extracted as
// HOSTNAME|PROGRAMNAME|MSG) and, as a datagram, to fleetban's listener.
// Where fleetban reads a form rsyslog does not, the row says why; where a
// form has nothing to read as a header, both keep the text in the message.
//
// Columns: [hostname, program, message]; '' for "none" (rsyslog's stand-in
// hostname, the sender's own name, counts as none). Messages are compared
// with control characters written as rsyslog writes them (#012 for LF).

interface Form {
  name: string;
  wire: string;
  rsyslog: [string, string, string];
  /** fleetban's reading when it differs from rsyslog's, and why. */
  fleetban?: [string, string, string];
  why?: string;
}

const FORMS: Form[] = [
  { name: 'plain RFC 3164', wire: '<13>Mar  7 19:06:53 mx1 imapd[12]: F01 LOGIN FAILED', rsyslog: ['mx1', 'imapd', 'F01 LOGIN FAILED'] },
  { name: 'plain RFC 5424', wire: '<13>1 2024-01-01T00:00:00Z mx1 app 1 ID - F02 text', rsyslog: ['mx1', 'app', 'F02 text'] },
  { name: 'a space between PRI and a BSD stamp', wire: '<38> Mar  7 19:06:53 mx1 imapd: F03 text', rsyslog: ['mx1', 'imapd', 'F03 text'] },
  {
    name: 'a space between PRI and an ISO stamp',
    wire: '<54> 2024-01-01T00:01:31+00:00 mx1 app: F04 text',
    rsyslog: ['', '', '2024-01-01T00:01:31+00:00 mx1 app: F04 text'],
    fleetban: ['mx1', 'app', 'F04 text'],
    why: 'the same form rsyslog reads with a BSD stamp; an ISO stamp there is no less clear',
  },
  {
    name: 'a space between PRI and the RFC 5424 version',
    wire: '<54> 1 2024-01-01T00:01:31+00:00 mx1 app 12 ID - F05 text',
    rsyslog: ['', '', '1 2024-01-01T00:01:31+00:00 mx1 app 12 ID - F05 text'],
    fleetban: ['mx1', 'app', 'F05 text'],
    why: 'the space is read as rsyslog reads it before a BSD stamp; the rest is a valid RFC 5424 header',
  },
  { name: 'a colon right after the clock', wire: '<38>Mar  7 19:06:53: mx1 imapd: F06 text', rsyslog: ['mx1', 'imapd', 'F06 text'] },
  { name: 'a colon after the clock, no padding', wire: '<13>Dec 28 16:49:07: mx1 app: F07 text', rsyslog: ['mx1', 'app', 'F07 text'] },
  {
    name: 'runs of spaces between RFC 5424 header fields',
    wire: '<13>1 2024-01-01T00:00:00Z  mx1   app  123  ID  - F08 text',
    rsyslog: ['', 'mx1', 'app  123  ID  - F08 text'],
    fleetban: ['mx1', 'app', 'F08 text'],
    why: 'no RFC 5424 field is ever empty (an absent one is "-"), so a run of spaces can only be one separator; rsyslog reads an empty hostname and the hostname as the program',
  },
  {
    name: 'a space before PRI',
    wire: ' <13>Mar  7 19:06:53 mx1 imapd: F09 text',
    rsyslog: ['', '', '<13>Mar  7 19:06:53 mx1 imapd: F09 text'],
    fleetban: ['mx1', 'imapd', 'F09 text'],
    why: 'whitespace before a valid PRI is no part of any message',
  },
  {
    name: 'a newline before PRI',
    wire: '\n<13>Mar  7 19:06:53 mx1 imapd: F10 text',
    rsyslog: ['', '#012<13>Mar', '7 19:06:53 mx1 imapd: F10 text'],
    fleetban: ['mx1', 'imapd', 'F10 text'],
    why: 'rsyslog takes "#012<13>Mar" for the program; the filter would miss the line',
  },
  {
    name: 'an RFC 5424 stamp cut short',
    wire: '<13>1 2024-01-01T00:0 mx1 app 1 - - F11 text',
    rsyslog: ['', '', '2024-01-01T00:0 mx1 app 1 - - F11 text'],
    fleetban: ['', '', '1 2024-01-01T00:0 mx1 app 1 - - F11 text'],
    why: 'no header to trust: both keep the text whole (fleetban with the version digit)',
  },
  {
    name: 'an LF inside an RFC 3164 hostname',
    wire: '<13>Mar  7 19:06:53 mx1\nfake imapd: F12 text',
    rsyslog: ['', 'mx1#012fake', 'imapd: F12 text'],
    fleetban: ['', '', 'mx1#012fake imapd: F12 text'],
    why: 'not a host name for either; fleetban does not make it the program either (a word followed by a space is no tag)',
  },
  { name: 'an LF inside an RFC 3164 tag', wire: '<13>Mar  7 19:06:53 mx1 ima\npd: F13 text', rsyslog: ['mx1', 'ima#012pd', 'F13 text'] },
  { name: 'an LF inside an RFC 5424 hostname', wire: '<13>1 2024-01-01T00:00:00Z mx1\nfake app 1 - - F14 text', rsyslog: ['mx1#012fake', 'app', 'F14 text'] },
  { name: 'an LF inside an RFC 5424 app name', wire: '<13>1 2024-01-01T00:00:00Z mx1 ap\np 1 - - F15 text', rsyslog: ['mx1', 'ap#012p', 'F15 text'] },
  { name: 'an LF inside the message', wire: '<13>Mar  7 19:06:53 mx1 imapd[12]: F16 one\ntwo', rsyslog: ['mx1', 'imapd', 'F16 one#012two'] },
];

/** Control characters as rsyslog writes them on receive. */
const escaped = (s: string) => s.replace(/[\x00-\x1f\x7f]/g, (c) => '#' + c.charCodeAt(0).toString(8).padStart(3, '0'));
const token = (f: Form) => /F\d\d/.exec(f.wire)![0];

let rsyslog: Rsyslog | undefined;
let running: Running | undefined;

describe.skipIf(missing('syslog forms against rsyslog', { commands: ['rsyslogd'] }))('syslog forms: rsyslogd as the reference', () => {
  /** rsyslog's reading of each form, by token. */
  const reference = new Map<string, [string, string, string]>();

  beforeAll(async () => {
    rsyslog = await startRsyslog({
      noSocket: true,
      config: (dir) => `module(load="imtcp")
input(type="imtcp" port="0" address="127.0.0.1" listenPortFileName="${join(dir, 'tcp.port')}")
input(type="imtcp" port="0" address="127.0.0.1" listenPortFileName="${join(dir, 'nul.port')}" ruleset="nul" AddtlFrameDelimiter="0")
template(name="fields" type="string" string="%hostname%|%fromhost%|%programname%|%msg%\\n")
ruleset(name="nul") { action(type="omfile" file="${join(dir, 'nul.log')}" template="fields") }
action(type="omfile" file="${join(dir, 'forms.log')}" template="fields")
`,
    });
    const dir = rsyslog.dir;
    await waitFor('rsyslog to listen', () => existsSync(join(dir, 'tcp.port')) && existsSync(join(dir, 'nul.port')));
    // Octet-counted frames: an LF inside a form reaches rsyslog's parser as it reaches ours in a datagram.
    const s = net.connect(Number(readFileSync(join(dir, 'tcp.port'), 'utf8')), '127.0.0.1');
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    for (const f of FORMS) s.write(`${Buffer.byteLength(f.wire)} ${f.wire}`);
    s.end();
    const out = join(dir, 'forms.log');
    await waitFor('rsyslog to write every form', () => existsSync(out) && FORMS.every((f) => readFileSync(out, 'utf8').includes(token(f))));
    for (const line of readFileSync(out, 'utf8').split('\n')) {
      const [host, from, prog, ...msg] = line.split('|');
      const m = /F\d\d/.exec(line);
      if (!m || host === undefined) continue;
      reference.set(m[0], [host === from ? '' : host, prog ?? '', msg.join('|').trimStart()]);
    }

    running = await startListeners(listenConfig({ udp: [{ host: '127.0.0.1', port: 0 }], tcp: [{ host: '127.0.0.1', port: 0 }] }));
    const u = dgram.createSocket('udp4');
    for (const f of FORMS) await new Promise<void>((resolve) => u.send(f.wire, running!.port('udp'), '127.0.0.1', () => resolve()));
    u.close();
    await running.sink.waitFor(() => FORMS.every((f) => running!.sink.events.some((e) => e.raw.includes(token(f)))));
  });

  afterAll(async () => {
    await rsyslog?.stop();
    await running?.listeners.stop();
  });

  test.each(FORMS)('$name', (f) => {
    expect(reference.get(token(f)), 'rsyslog read it as this table says').toEqual(f.rsyslog);
    const ev = running!.sink.events.find((e) => e.raw.includes(token(f)))!;
    expect([ev.hostname ?? '', ev.app ?? '', escaped(ev.message)]).toEqual(f.fleetban ?? f.rsyslog);
    // Whatever the form, no header field the filters see holds a raw control character.
    expect(`${ev.hostname ?? ''}${ev.app ?? ''}${ev.pid ?? ''}`).not.toMatch(/[\x00-\x1f\x7f]/);
  });

  test('messages ended by NUL on TCP are one message each, as rsyslog reads them with NUL as a frame delimiter', async () => {
    const wire = ['one', 'two', 'three'].map((w) => `<13>Mar  7 19:06:53 mx1 imapd: N-${w} ip=[::ffff:198.51.100.7]\0`).join('');
    const send = async (port: number) => {
      const s = net.connect(port, '127.0.0.1');
      await new Promise<void>((resolve) => s.once('connect', () => resolve()));
      s.end(wire);
    };
    await send(Number(readFileSync(join(rsyslog!.dir, 'nul.port'), 'utf8')));
    await send(running!.port('tcp'));
    const out = join(rsyslog!.dir, 'nul.log');
    await waitFor('rsyslog to write three messages', () => existsSync(out) && readFileSync(out, 'utf8').includes('N-three'));
    const theirs = readFileSync(out, 'utf8').trim().split('\n').map((l) => l.split('|').slice(3).join('|').trimStart());
    await running!.sink.waitFor(() => running!.sink.events.some((e) => e.message.includes('N-three')));
    const ours = running!.sink.events.filter((e) => e.message.includes('N-')).map((e) => e.message);
    expect(theirs).toEqual(['N-one ip=[::ffff:198.51.100.7]', 'N-two ip=[::ffff:198.51.100.7]', 'N-three ip=[::ffff:198.51.100.7]']);
    expect(ours).toEqual(theirs);
  });
});
