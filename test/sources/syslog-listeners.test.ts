import dgram from 'node:dgram';
import net from 'node:net';
import { hostname } from 'node:os';
import { afterEach, describe, expect, test } from 'vitest';
import { FleetSenderPolicy } from '../../src/sources/sender-policy.js';
import { missing } from '../helpers/requirements.js';
import { listenConfig, logger, loopbackPolicy, run, startListeners, unique, type Running } from './listener-fixture.js';

const HOST = hostname();
const here = { host: '127.0.0.1', port: 0 };
let running: Running | undefined;

afterEach(async () => {
  await running?.listeners.stop();
  running = undefined;
});

describe.skipIf(missing('syslog listeners with logger', { commands: ['logger'] }))('messages from util-linux logger', () => {
  test('UDP, RFC 3164: tag, pid, hostname, time, sender', async () => {
    running = await startListeners(listenConfig({ udp: [here] }));
    const text = unique('vchkpw-pop3: vpopmail user not found www@:203.0.113.7');
    const before = Date.now();
    await logger(['--udp', '--server', '127.0.0.1', '--port', String(running.port('udp')), '--rfc3164', '-t', 'vpopmail', '--id=20410', '-p', 'mail.info'], text);
    const ev = await running.sink.next(text);
    expect(ev).toMatchObject({ source: 'udp', sender: '127.0.0.1', hostname: HOST, origin: HOST, app: 'vpopmail', pid: '20410', facility: 2, severity: 6, message: text });
    // RFC 3164 stamps have whole seconds, in the sender's local time (this host's).
    expect(ev.time).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
    expect(ev.time).toBeLessThanOrEqual(Date.now());
    expect(ev.raw).toMatch(/^<22>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d /);
  });

  test('UDP, RFC 5424 with MSGID and structured data', async () => {
    running = await startListeners(listenConfig({ udp: [here] }));
    const text = unique('connect from unknown[203.0.113.9]');
    await logger(['--udp', '--server', '127.0.0.1', '--port', String(running.port('udp')), '--rfc5424', '--msgid', 'CONN', '--sd-id', 'zoo@123', '--sd-param', 'tiger="hungry"', '-t', 'postfix/smtpd', '--id=1234'], text);
    const ev = await running.sink.next(text);
    expect(ev).toMatchObject({ source: 'udp', hostname: HOST, app: 'postfix/smtpd', pid: '1234', message: text });
    expect(Math.abs(ev.time - Date.now())).toBeLessThan(5000);
    expect(ev.raw).toContain('[zoo@123 tiger="hungry"]');
  });

  test.each([
    ['LF framing, RFC 3164', ['--rfc3164']],
    ['LF framing, RFC 5424', ['--rfc5424']],
    ['octet counting, RFC 3164', ['--octet-count', '--rfc3164']],
    ['octet counting, RFC 5424', ['--octet-count', '--rfc5424']],
  ])('TCP, %s', async (_name, args) => {
    running = await startListeners(listenConfig({ tcp: [here] }));
    const text = unique('LOGIN FAILED, user=bar@example.com, ip=[::ffff:198.51.100.8]');
    await logger(['--tcp', '--server', '127.0.0.1', '--port', String(running.port('tcp')), ...args, '-t', 'courierpop3login', '-p', 'mail.err'], text);
    const ev = await running.sink.next(text);
    expect(ev).toMatchObject({ source: 'tcp', sender: '127.0.0.1', hostname: HOST, app: 'courierpop3login', facility: 2, severity: 3, message: text });
    expect(running.listeners.stats().sources[`tcp 127.0.0.1:0`]).toMatchObject({ received: 1, parsed: 1 });
  });

  test('IPv6: UDP and TCP on ::1', async () => {
    const v6 = { host: '::1', port: 0 };
    running = await startListeners(listenConfig({ udp: [v6], tcp: [v6] }));
    const a = unique('over udp6');
    const b = unique('over tcp6');
    await logger(['--udp', '--server', '::1', '--port', String(running.port('udp'))], a);
    await logger(['--tcp', '--octet-count', '--server', '::1', '--port', String(running.port('tcp'))], b);
    expect(await running.sink.next(a)).toMatchObject({ source: 'udp', sender: '::1' });
    expect(await running.sink.next(b)).toMatchObject({ source: 'tcp', sender: '::1' });
  });

  test('counters per listener and per sender', async () => {
    running = await startListeners(listenConfig({ udp: [here], tcp: [here] }));
    const port = String(running.port('udp'));
    for (let i = 0; i < 3; i++) await logger(['--udp', '--server', '127.0.0.1', '--port', port], unique('counted'));
    await logger(['--tcp', '--server', '127.0.0.1', '--port', String(running.port('tcp'))], unique('counted'));
    await running.sink.waitFor(() => running!.sink.events.length === 4);
    const s = running.listeners.stats();
    expect(s.sources['udp 127.0.0.1:0']).toMatchObject({ received: 3, parsed: 3 });
    expect(s.sources['tcp 127.0.0.1:0']).toMatchObject({ received: 1, parsed: 1 });
    expect(s.senders['127.0.0.1']).toMatchObject({ received: 4, parsed: 4, dropped: { 'not-allowed': 0, 'too-long': 0, framing: 0, parse: 0, overload: 0 } });
    expect(s.connections.accepted).toBe(1);
  });

  test('origin: the fleet host whose address sent it, with the hostname kept', async () => {
    running = await startListeners(listenConfig({ udp: [here] }), loopbackPolicy({ hosts: [{ name: 'mx-local', address: '127.0.0.1' }] }));
    const text = unique('from a fleet host');
    await logger(['--udp', '--server', '127.0.0.1', '--port', String(running.port('udp'))], text);
    expect(await running.sink.next(text)).toMatchObject({ origin: 'mx-local', hostname: HOST, sender: '127.0.0.1' });
  });

  test('origin through a relay: each message gets the fleet host its hostname names, whatever the order', async () => {
    // A central rsyslog forwards for the whole fleet from one address; the origin is read per message.
    const policy = new FleetSenderPolicy({ allowedSenders: ['127.0.0.0/8'], hosts: [{ name: 'mx1', address: '198.18.0.2' }, { name: 'mx2', address: '198.18.0.6' }] });
    running = await startListeners(listenConfig({ udp: [here] }), policy);
    const sock = dgram.createSocket('udp4');
    const order = ['mx1', 'MX2.example.com', 'mx1.example.com', 'stranger', 'mx2', 'mx1'];
    const texts = order.map((h) => [h, unique(`relayed for ${h}`)] as const);
    for (const [h, text] of texts) {
      await new Promise<void>((resolve) => sock.send(`<38>Nov 21 19:28:18 ${h} sshd[1]: ${text}`, running!.port('udp'), '127.0.0.1', () => resolve()));
    }
    sock.close();
    const origins = await Promise.all(texts.map(async ([, text]) => (await running!.sink.next(text)).origin));
    expect(origins).toEqual(['mx1', 'mx2', 'mx1', 'stranger', 'mx2', 'mx1']);
  });

  test("RFC 3164 stamps read in the zone configured for the sender", async () => {
    // logger writes this host's local time; this host runs in UTC when TZ is unset.
    const cfg = listenConfig({ udp: [here], senderTimezones: [{ cidr: '127.0.0.0/8', tz: '+05:00' }] });
    running = await startListeners(cfg);
    const text = unique('zoned');
    await run('logger', ['--udp', '--server', '127.0.0.1', '--port', String(running.port('udp')), '--rfc3164', text], { env: { ...process.env, TZ: 'UTC' } });
    const ev = await running.sink.next(text);
    const hours = (Date.now() - ev.time) / 3_600_000;
    expect(hours).toBeGreaterThan(4.99);
    expect(hours).toBeLessThan(5.01);
  });

  test('a sender outside allowed_senders is dropped and counted, over UDP and TCP; a reload that allows it lets it in', async () => {
    const cfg = listenConfig({ udp: [here], tcp: [here], allowedSenders: ['127.0.0.2/32'] });
    running = await startListeners(cfg, loopbackPolicy({ allowedSenders: cfg.allowedSenders }));
    const forged = unique('LOGIN FAILED, user=x, ip=[::ffff:198.51.100.66]');
    await logger(['--udp', '--server', '127.0.0.1', '--port', String(running.port('udp'))], forged);
    await logger(['--tcp', '--server', '127.0.0.1', '--port', String(running.port('tcp'))], forged).catch(() => {});
    const waitCounted = async () => {
      for (let i = 0; i < 100 && (running!.listeners.stats().senders['127.0.0.1']?.dropped['not-allowed'] ?? 0) < 2; i++) await new Promise((r) => setTimeout(r, 20));
    };
    await waitCounted();
    const s = running.listeners.stats();
    expect(s.senders['127.0.0.1']?.dropped['not-allowed']).toBe(2);
    expect(s.connections.refused['not-allowed']).toBe(1);
    expect(running.sink.events).toEqual([]);

    const open = listenConfig({ ...cfg, allowedSenders: ['127.0.0.1/32'] });
    await running.listeners.update(open, loopbackPolicy({ allowedSenders: open.allowedSenders }));
    const welcome = unique('now allowed');
    await logger(['--udp', '--server', '127.0.0.1', '--port', String(running.port('udp'))], welcome);
    await running.sink.next(welcome);
    expect(running.sink.events.map((e) => e.message)).toEqual([welcome]);
  });

  test('UDP beyond loopback open to every address: a warning at startup', async () => {
    const cfg = listenConfig({ udp: [{ host: '0.0.0.0', port: 0 }], allowedSenders: ['0.0.0.0/0', '::/0'] });
    running = await startListeners(cfg, loopbackPolicy({ allowedSenders: cfg.allowedSenders }));
    expect(running.lines.some((l) => l.level === 40 && String(l.msg).includes('forged lines can ban innocent addresses'))).toBe(true);
  });

  test('the receive buffer size granted is logged', async () => {
    running = await startListeners(listenConfig({ udp: [here], recvBufferSize: 1024 * 1024 }));
    const line = running.lines.find((l) => l.listener === 'udp 127.0.0.1:0' && 'granted' in l);
    expect(line).toMatchObject({ asked: 1024 * 1024, granted: 1024 * 1024 });
  });
});

describe('startup errors name the address and why', () => {
  test('a port in use: nothing is left bound', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const busy = (blocker.address() as net.AddressInfo).port;
    try {
      const { SyslogListeners } = await import('../../src/sources/syslog-listeners.js');
      const { CollectingSink, memoryLogger } = await import('./listener-fixture.js');
      const l = new SyslogListeners(listenConfig({ udp: [here], tcp: [{ host: '127.0.0.1', port: busy }] }), new CollectingSink(), loopbackPolicy(), memoryLogger().logger);
      await expect(l.start()).rejects.toThrow(`cannot listen on tcp 127.0.0.1:${busy}: address already in use (EADDRINUSE)`);
      expect(l.bound()).toEqual([]);
    } finally {
      blocker.close();
    }
  });

  test.skipIf(missing('EACCES on port 514', { root: true, commands: ['setpriv'] }))('port 514 without privileges', async () => {
    // A child without root's capabilities tries what a misconfigured service would.
    const script = [
      "import { SyslogListeners } from './src/sources/syslog-listeners.ts';",
      "import pino from 'pino';",
      "const cfg = { udp: [{ host: '127.0.0.1', port: 514 }], tcp: [], tls: [], allowedSenders: [], maxFrame: 65536, recvBufferSize: 65536, maxConnections: 10, maxConnectionsPerSender: 10, idleTimeoutMs: 1000, senderTimezones: [] };",
      "const sink = { push: () => true, onDrain: () => {} };",
      "const policy = { allowed: () => true, originOf: (ip) => ip };",
      "new SyslogListeners(cfg, sink, policy, pino({ level: 'silent' })).start().then(() => console.log('bound'), (e) => console.log(e.message));",
    ].join('\n');
    const { stdout } = await run(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: process.cwd(), env: { ...process.env, HOME: '/tmp' }, timeout: 30_000 },
    );
    expect(stdout.trim()).toBe('cannot listen on udp 127.0.0.1:514: permission denied (EACCES): ports below 1024 need root or CAP_NET_BIND_SERVICE');
  });
});

describe('reload', () => {
  test('keeps listeners and connections whose address did not change, opens new ones, closes removed ones', async () => {
    running = await startListeners(listenConfig({ tcp: [here], udp: [here] }));
    const tcpPort = running.port('tcp');
    const client = net.connect(tcpPort, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    client.write('<13>Nov 21 19:28:18 mx1 app: before reload\n');
    await running.sink.next('before reload');

    const next = listenConfig({ tcp: [here, { host: '::1', port: 0 }], maxFrame: 1024 });
    await running.listeners.update(next, loopbackPolicy());
    expect(running.listeners.bound().map((b) => `${b.transport} ${b.host}`).sort()).toEqual(['tcp 127.0.0.1', 'tcp ::1']);
    expect(running.port('tcp', '127.0.0.1')).toBe(tcpPort);

    client.write('<13>Nov 21 19:28:19 mx1 app: after reload, same connection\n');
    await running.sink.next('after reload, same connection');
    // The new maxframe applies to the connection that was kept.
    client.write(`<13>${'x'.repeat(2000)}\n<13>short\n`);
    await running.sink.next('short');
    expect(running.listeners.stats().sources['tcp 127.0.0.1:0']?.dropped['too-long']).toBe(1);
    client.destroy();
  });

  test('a reload whose new address cannot bind is refused and the old listeners keep running', async () => {
    running = await startListeners(listenConfig({ tcp: [here] }));
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const busy = (blocker.address() as net.AddressInfo).port;
    try {
      await expect(running.listeners.update(listenConfig({ tcp: [{ host: '127.0.0.1', port: busy }] }), loopbackPolicy())).rejects.toThrow(/EADDRINUSE/);
      const client = net.connect(running.port('tcp'), '127.0.0.1');
      client.end('<13>still here\n');
      await running.sink.next('still here');
    } finally {
      blocker.close();
    }
  });
});

describe('backpressure', () => {
  test('a full pipeline pauses TCP reading; the drain resumes it and nothing is lost', async () => {
    running = await startListeners(listenConfig({ tcp: [here] }));
    const sink = running.sink;
    sink.full = true;
    const client = net.connect(running.port('tcp'), '127.0.0.1');
    const total = 20_000;
    let payload = '';
    for (let i = 0; i < total; i++) payload += `<13>Nov 21 19:28:18 mx1 app: line ${i}\n`;
    client.write(payload);
    await sink.waitFor(() => sink.events.length > 0);
    await new Promise((r) => setTimeout(r, 300));
    const whilePaused = sink.events.length;
    // Only what one read brought in got through; the rest waits in the kernel and the client.
    expect(whilePaused).toBeLessThan(total);
    await new Promise((r) => setTimeout(r, 200));
    expect(sink.events.length).toBe(whilePaused);
    sink.drain();
    await sink.waitFor(() => sink.events.length === total);
    expect(sink.events.map((e) => e.message)).toEqual(Array.from({ length: total }, (_, i) => `line ${i}`));
    client.destroy();
  });
});
