import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { missing } from '../helpers/requirements.js';
import { forwardTo, startRsyslog, type Rsyslog } from '../helpers/rsyslog.js';
import { listenConfig, loopbackPolicy, run, startListeners, unique, type Running } from './listener-fixture.js';

// A mail server's rsyslogd forwarding to fleetban with omfwd, in each way
// rsyslog can: UDP and TCP, both TCP framings, its traditional, forward and
// RFC 5424 templates. Messages enter rsyslog through its own private
// imuxsock socket, written by logger as a local program would.

const here = { host: '127.0.0.1', port: 0 };
let running: Running | undefined;
let rsyslog: Rsyslog | undefined;

afterEach(async () => {
  await rsyslog?.stop();
  await running?.listeners.stop();
  rsyslog = undefined;
  running = undefined;
});

/** logger writing to rsyslog's socket as a local daemon writes to /dev/log. */
async function local(socket: string, tag: string, pid: string | undefined, priority: string, text: string): Promise<void> {
  // logger cuts messages at 1 KiB unless told otherwise.
  const args = ['-u', socket, '-t', tag, '-p', priority, '--size', '131072'];
  if (pid) args.push(`--id=${pid}`);
  await run('logger', [...args, text], { timeout: 10_000 });
}

describe.skipIf(missing('rsyslog forwarding', { commands: ['rsyslogd', 'logger'] }))('rsyslogd omfwd to the listener', () => {
  test.each([
    { name: 'UDP, default template', transport: 'udp', action: { protocol: 'udp' }, fraction: false },
    { name: 'UDP, RSYSLOG_ForwardFormat', transport: 'udp', action: { protocol: 'udp', template: 'RSYSLOG_ForwardFormat' }, fraction: true },
    { name: 'UDP, RSYSLOG_SyslogProtocol23Format', transport: 'udp', action: { protocol: 'udp', template: 'RSYSLOG_SyslogProtocol23Format' }, fraction: true },
    { name: 'TCP, traditional LF framing', transport: 'tcp', action: { protocol: 'tcp', framing: 'traditional' }, fraction: false },
    { name: 'TCP, octet-counted', transport: 'tcp', action: { protocol: 'tcp', framing: 'octet-counted' }, fraction: false },
    { name: 'TCP, octet-counted RSYSLOG_SyslogProtocol23Format', transport: 'tcp', action: { protocol: 'tcp', framing: 'octet-counted', template: 'RSYSLOG_SyslogProtocol23Format' }, fraction: true },
  ] as const)('$name', async ({ transport, action, fraction }) => {
    running = await startListeners(listenConfig({ [transport]: [here] }));
    rsyslog = await startRsyslog({ config: forwardTo(running.port(transport), action) });
    const vpop = unique('vchkpw-pop3: vpopmail user not found www@:203.0.113.7');
    const imap = unique('LOGIN FAILED, user=foo, ip=[::ffff:198.51.100.7]');
    const before = Date.now();
    await local(rsyslog.socket, 'vpopmail', '20410', 'mail.info', vpop);
    await local(rsyslog.socket, 'imapd', undefined, 'mail.err', imap);

    const a = await running.sink.next(vpop);
    const b = await running.sink.next(imap);
    // origin: the hostname names fleet.conf's host mx1 (the test policy has it).
    expect(a).toMatchObject({ source: transport, sender: '127.0.0.1', hostname: 'mx1.example.com', origin: 'mx1', app: 'vpopmail', pid: '20410', facility: 2, severity: 6, message: vpop });
    expect(b).toMatchObject({ hostname: 'mx1.example.com', app: 'imapd', pid: undefined, facility: 2, severity: 3, message: imap });
    // Templates with ISO stamps carry fractions of a second; the traditional one whole seconds.
    expect(a.time).toBeGreaterThanOrEqual(fraction ? before - 50 : Math.floor(before / 1000) * 1000);
    expect(a.time).toBeLessThanOrEqual(Date.now());
  });

  test('a burst of 10,000 messages over TCP all arrive, in order', async () => {
    running = await startListeners(listenConfig({ tcp: [here] }));
    rsyslog = await startRsyslog({ config: forwardTo(running.port('tcp'), { protocol: 'tcp', framing: 'octet-counted' }) });
    const n = 10_000;
    const lines = Array.from({ length: n }, (_, i) => `burst ${i} LOGIN FAILED, user=u${i}, ip=[::ffff:198.51.100.${i % 250}]`);
    const file = join(rsyslog.dir, 'burst.txt');
    writeFileSync(file, `${lines.join('\n')}\n`);
    await run('logger', ['-u', rsyslog.socket, '-t', 'imapd', '-f', file], { timeout: 60_000 });
    await running.sink.waitFor(() => running!.sink.events.length >= n, 60_000, `${n} events`);
    expect(running.sink.events.map((e) => e.message)).toEqual(lines);
    expect(running.listeners.stats().sources['tcp 127.0.0.1:0']).toMatchObject({ received: n, parsed: n });
  });

  test('a connection fleetban closed for idleness costs rsyslog no message: it reconnects and sends', async () => {
    running = await startListeners(listenConfig({ tcp: [here], idleTimeoutMs: 500 }));
    rsyslog = await startRsyslog({ config: forwardTo(running.port('tcp'), { protocol: 'tcp', framing: 'octet-counted' }) });
    const texts = [unique('before the idle close'), unique('after the first idle close'), unique('after the second')];
    for (const text of texts) {
      await local(rsyslog.socket, 'imapd', undefined, 'mail.err', text);
      await running.sink.next(text);
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(running.listeners.stats().connections.idleClosed).toBeGreaterThanOrEqual(2);
    expect(running.sink.events.map((e) => e.message)).toEqual(texts);
  });

  test('a 70 KB message over TCP arrives whole when maxframe allows it, and is dropped and counted when it does not', async () => {
    running = await startListeners(listenConfig({ tcp: [here], maxFrame: 128 * 1024 }));
    rsyslog = await startRsyslog({ maxMessageSize: '128k', config: forwardTo(running.port('tcp'), { protocol: 'tcp', framing: 'octet-counted' }) });
    const body = `${unique('big')} ${'A'.repeat(70_000)}`;
    await local(rsyslog.socket, 'postfix/cleanup', '4321', 'mail.info', body);
    expect((await running.sink.next(body.slice(0, 40))).message).toBe(body);

    await running.listeners.update(listenConfig({ tcp: [here], maxFrame: 64 * 1024 }), loopbackPolicy());
    const after = unique('small after big');
    await local(rsyslog.socket, 'postfix/cleanup', '4321', 'mail.info', `${after} ${'B'.repeat(70_000)}`);
    await local(rsyslog.socket, 'postfix/cleanup', '4321', 'mail.info', after);
    await running.sink.waitFor(() => running!.sink.events.some((e) => e.message === after));
    expect(running.sink.events.filter((e) => e.message.startsWith(after)).map((e) => e.message)).toEqual([after]);
    expect(running.listeners.stats().sources['tcp 127.0.0.1:0']?.dropped['too-long']).toBe(1);
  });
});
