import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { missing } from '../helpers/requirements.js';
import { waitFor } from '../helpers/wait.js';
import { listenConfig, logger, loopbackPolicy, startListeners, unique, type Running } from './listener-fixture.js';

// Log lines are written by attackers, and so, sometimes, are the bytes on
// the wire. After each attack the listener must still take a real message
// from logger, with the right fields.

const here = { host: '127.0.0.1', port: 0 };
/** A second loopback address: a sender the allowlist does not know. */
const STRANGER = '127.0.0.2';
let running: Running | undefined;
let child: ChildProcess | undefined;

afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  child = undefined;
  await running?.listeners.stop();
  running = undefined;
});

/** The proof of health after an attack: logger over UDP and TCP, both parsed right. */
async function stillServes(r: Running): Promise<void> {
  const a = unique('vchkpw-pop3: vpopmail user not found www@:203.0.113.7');
  const b = unique('LOGIN FAILED, user=foo, ip=[::ffff:198.51.100.7]');
  await logger(['--udp', '--server', '127.0.0.1', '--port', String(r.port('udp')), '-t', 'vpopmail', '--id=20410'], a);
  await logger(['--tcp', '--octet-count', '--server', '127.0.0.1', '--port', String(r.port('tcp')), '-t', 'imapd'], b);
  expect(await r.sink.next(a)).toMatchObject({ source: 'udp', app: 'vpopmail', pid: '20410', message: a });
  expect(await r.sink.next(b)).toMatchObject({ source: 'tcp', app: 'imapd', message: b });
}

function connect(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function closed(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve();
    s.on('error', () => {});
    s.once('close', () => resolve());
  });
}

describe.skipIf(missing('hostile input', { commands: ['logger'] }))('hostile input', () => {
  test('random bytes over TCP and UDP', async () => {
    running = await startListeners(listenConfig({ udp: [here], tcp: [here] }));
    const s = await connect(running.port('tcp'));
    for (let i = 0; i < 16; i++) s.write(randomBytes(64 * 1024));
    s.end();
    await closed(s);
    const u = dgram.createSocket('udp4');
    for (let i = 0; i < 500; i++) u.send(randomBytes(1 + (i * 131) % 1400), running.port('udp'), '127.0.0.1');
    await new Promise((r) => setTimeout(r, 200));
    u.close();
    await stillServes(running);
    const tcp = running.listeners.stats().sources['tcp 127.0.0.1:0']!;
    // Whatever the noise was read as, each piece was counted one way or another.
    expect(tcp.received).toBe(tcp.parsed + Object.values(tcp.dropped).reduce((a, b) => a + b, 0));
  });

  test('a frame claiming 10^12 bytes: a framing error, and the same connection goes on after the next LF', async () => {
    running = await startListeners(listenConfig({ udp: [here], tcp: [here] }));
    const s = await connect(running.port('tcp'));
    s.write('1000000000000 <13>Nov 21 19:28:35 mx1 imapd: LOGIN FAILED, user=foo, ip=[::ffff:198.51.100.7]\n');
    s.write('<13>Nov 21 19:28:36 mx1 imapd: after the bad length\n');
    await running.sink.next('after the bad length');
    expect(running.listeners.stats().sources['tcp 127.0.0.1:0']?.dropped.framing).toBe(1);
    // 9,999,999,999 is a length, just too long: skipped to its end (the sender never gets there) and counted.
    const t = await connect(running.port('tcp'));
    t.write(`9999999999 ${'x'.repeat(1000)}`);
    for (let i = 0; i < 50 && running.listeners.stats().sources['tcp 127.0.0.1:0']!.dropped['too-long'] < 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(running.listeners.stats().sources['tcp 127.0.0.1:0']?.dropped['too-long']).toBe(1);
    s.destroy();
    t.destroy();
    await stillServes(running);
  });

  test('a sender outside allowed_senders: dropped and counted by sender over UDP, refused over TCP', async () => {
    const cfg = listenConfig({ udp: [here], tcp: [here], allowedSenders: ['127.0.0.1/32'] });
    running = await startListeners(cfg, loopbackPolicy({ allowedSenders: cfg.allowedSenders }));
    const forged = '<18>Nov 21 19:28:35 mx1 imapd: LOGIN FAILED, user=foo, ip=[::ffff:198.51.100.7]';
    const u = dgram.createSocket('udp4');
    await new Promise<void>((r) => u.bind(0, STRANGER, r));
    for (let i = 0; i < 5; i++) u.send(forged, running.port('udp'), '127.0.0.1');
    const s = net.connect({ port: running.port('tcp'), host: '127.0.0.1', localAddress: STRANGER });
    s.on('error', () => {});
    s.write(`${forged}\n`);
    await closed(s);
    for (let i = 0; i < 50 && (running.listeners.stats().senders[STRANGER]?.dropped['not-allowed'] ?? 0) < 6; i++) await new Promise((r) => setTimeout(r, 20));
    u.close();
    const stats = running.listeners.stats();
    expect(stats.senders[STRANGER]).toMatchObject({ received: 6, parsed: 0, dropped: { 'not-allowed': 6 } });
    expect(stats.connections.refused['not-allowed']).toBe(1);
    expect(running.sink.events).toEqual([]);
    await stillServes(running);
  });

  test('half a frame left by a sender that goes silent is counted as framing when the idle timeout closes it', async () => {
    running = await startListeners(listenConfig({ udp: [here], tcp: [here], idleTimeoutMs: 300 }));
    const s = await connect(running.port('tcp'));
    s.write('<13>Nov 21 19:28:35 mx1 imapd: whole line\n<13>Nov 21 19:28:36 mx1 imapd: half a li');
    await running.sink.next('whole line');
    await closed(s);
    await waitFor('the server side to close', () => running!.listeners.stats().connections.open === 0);
    const tcp = running.listeners.stats().sources['tcp 127.0.0.1:0']!;
    expect(running.listeners.stats().connections.idleClosed).toBe(1);
    expect(tcp).toMatchObject({ received: 2, parsed: 1, dropped: { framing: 1 } });
    await stillServes(running);
  });

  test('10,000 idle connections opened at once are held, a real sender still gets through, and the idle timeout reaps them', async () => {
    // The connections come from a child process: its sockets use its own descriptors, ours hold the 10,000 accepted ends.
    // Limits high enough to hold them all: the point is that many open connections cost us nothing that matters.
    const n = 10_000;
    const cfg = listenConfig({ udp: [here], tcp: [here], maxConnections: n + 100, maxConnectionsPerSender: n + 50, idleTimeoutMs: 60_000 });
    running = await startListeners(cfg);
    const port = running.port('tcp');
    child = spawn(process.execPath, ['-e', idleOpener(port, n)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const opened = await new Promise<number>((resolve, reject) => {
      let out = '';
      child!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /opened (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child!.once('exit', (code) => reject(new Error(`opener exited ${code}: ${out}`)));
    });
    expect(opened).toBe(n);
    for (let i = 0; i < 100 && running.listeners.stats().connections.open < n; i++) await new Promise((r) => setTimeout(r, 50));
    expect(running.listeners.stats().connections.open).toBe(n);

    const t0 = Date.now();
    await stillServes(running);
    expect(Date.now() - t0).toBeLessThan(3000);

    // A reload that shortens idle_timeout applies to the connections already open.
    await running.listeners.update({ ...cfg, idleTimeoutMs: 1000 }, loopbackPolicy());
    for (let i = 0; i < 200; i++) {
      const c = running.listeners.stats().connections;
      if (c.idleClosed >= n && c.open === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const c = running.listeners.stats().connections;
    expect(c.idleClosed).toBe(n);
    expect(c.open).toBe(0);
  });

  test('10,000 connections from one sender against the default limits: the excess is refused at once', async () => {
    const n = 10_000;
    running = await startListeners(listenConfig({ udp: [here], tcp: [here], maxConnections: 1024, maxConnectionsPerSender: 64 }));
    child = spawn(process.execPath, ['-e', idleOpener(running.port('tcp'), n, STRANGER)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('opened')) resolve();
      });
      child!.once('exit', (code) => reject(new Error(`opener exited ${code}: ${out}`)));
    });
    for (let i = 0; i < 100 && running.listeners.stats().connections.refused.limit < n - 64; i++) await new Promise((r) => setTimeout(r, 50));
    const c = running.listeners.stats().connections;
    expect(c.open).toBe(64);
    expect(c.refused.limit).toBe(n - 64);
    await stillServes(running);
  });
});

/**
 * Node code for a child that opens `n` TCP connections (from `from` when
 * given), sends nothing, and prints how many connected. Binding a source
 * address before connecting makes the kernel search for a free port on
 * every bind, which gets slow with thousands: only the test that needs a
 * stranger's address pays for it.
 */
function idleOpener(port: number, n: number, from?: string): string {
  return `
const net = require('node:net');
let done = 0, ok = 0;
const sockets = [];
function one() {
  const s = net.connect({ port: ${port}, host: '127.0.0.1'${from ? `, localAddress: '${from}'` : ''} });
  s.on('connect', () => { ok++; finish(); });
  s.on('error', () => finish());
  s.on('close', () => {});
  sockets.push(s);
}
let reported = false;
function finish() { if (++done === ${n} && !reported) { reported = true; console.log('opened ' + ok); } }
// In waves of a thousand, so the kernel's accept queue is not the thing under test.
let started = 0;
(function wave() { for (let i = 0; i < 1000 && started < ${n}; i++, started++) one(); if (started < ${n}) setTimeout(wave, 10); })();
setInterval(() => {}, 1000);
`;
}
