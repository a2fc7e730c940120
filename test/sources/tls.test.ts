import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { missing } from '../helpers/requirements.js';
import { forwardTo, startRsyslog, type Rsyslog } from '../helpers/rsyslog.js';
import { listenConfig, loopbackPolicy, run, startListeners, unique, type Running } from './listener-fixture.js';

// Syslog over TLS (RFC 5425): octet-counted frames inside TLS. With tls.ca
// set, a client certificate signed by that CA is mandatory: only the fleet's
// own servers can write lines that ban addresses.

const here = { host: '127.0.0.1', port: 0 };
let certs: TestCerts;
let running: Running | undefined;
let rsyslog: Rsyslog | undefined;

beforeAll(() => {
  if (!missing('TLS certificates', { commands: ['openssl'] })) certs = makeTestCerts();
});
afterAll(() => certs?.remove());
afterEach(async () => {
  await rsyslog?.stop();
  await running?.listeners.stop();
  rsyslog = undefined;
  running = undefined;
});

function tlsConfig(mutual: boolean, over = {}) {
  return listenConfig({ tls: [here], tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsCa: mutual ? certs.ca : undefined, ...over });
}

/** openssl s_client sends `frames` and closes; resolves with its exit code and output. */
function sClient(port: number, frames: string, client?: { cert: string; key: string }): Promise<{ code: number | null; out: string }> {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', certs.ca, '-verify_return_error', '-quiet', '-no_ign_eof'];
  if (client) args.push('-cert', client.cert, '-key', client.key);
  const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin.end(frames);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const frame = (msg: string) => `${Buffer.byteLength(msg)} ${msg}`;

describe.skipIf(missing('TLS listener', { commands: ['openssl'] }))('TLS listener with openssl s_client', () => {
  test('server certificate only: any allowed sender may write', async () => {
    running = await startListeners(tlsConfig(false));
    const text = unique('LOGIN FAILED, user=foo, ip=[::ffff:198.51.100.7]');
    await sClient(running.port('tls'), frame(`<18>Nov 21 19:28:35 mx1.example.com imapd: ${text}`));
    expect(await running.sink.next(text)).toMatchObject({ source: 'tls', sender: '127.0.0.1', hostname: 'mx1.example.com', app: 'imapd', message: text });
  });

  test('with tls.ca: a client certificate from that CA is let in', async () => {
    running = await startListeners(tlsConfig(true));
    const text = unique('with a good certificate');
    await sClient(running.port('tls'), frame(`<13>Nov 21 19:28:35 mx1 app: ${text}`), { cert: certs.clientCert, key: certs.clientKey });
    expect(await running.sink.next(text)).toMatchObject({ source: 'tls' });
  });

  test('with tls.ca: no client certificate, or one from another CA, is refused and counted', async () => {
    running = await startListeners(tlsConfig(true));
    const port = running.port('tls');
    await sClient(port, frame('<13>Nov 21 19:28:35 mx1 app: no certificate'));
    await sClient(port, frame('<13>Nov 21 19:28:35 mx1 app: rogue certificate'), { cert: certs.rogueCert, key: certs.rogueKey });
    // Both handshakes fail on the server; neither line reaches the filters.
    for (let i = 0; i < 100 && running.listeners.stats().connections.tlsFailed < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(running.listeners.stats().connections.tlsFailed).toBe(2);
    const good = unique('good one after');
    await sClient(port, frame(`<13>Nov 21 19:28:35 mx1 app: ${good}`), { cert: certs.clientCert, key: certs.clientKey });
    await running.sink.next(good);
    expect(running.sink.events.map((e) => e.message)).toEqual([good]);
  });

  test('half a TLS handshake is dropped after the handshake timeout; others are served meanwhile', async () => {
    running = await startListeners(tlsConfig(true, { idleTimeoutMs: 1500 }));
    const port = running.port('tls');
    const stuck = net.connect(port, '127.0.0.1');
    await new Promise((r) => stuck.once('connect', r));
    // The first bytes of a ClientHello record, then nothing.
    stuck.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
    const closed = new Promise<number>((resolve) => {
      const t0 = Date.now();
      stuck.once('close', () => resolve(Date.now() - t0));
      stuck.on('error', () => {});
    });
    const text = unique('served while another hangs');
    await sClient(port, frame(`<13>Nov 21 19:28:35 mx1 app: ${text}`), { cert: certs.clientCert, key: certs.clientKey });
    await running.sink.next(text);
    const after = await closed;
    expect(after).toBeLessThan(5000);
    expect(running.listeners.stats().connections.tlsFailed).toBe(1);
    // The server's side of the close lands a moment after the client's.
    for (let i = 0; i < 50 && running.listeners.stats().connections.open > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(running.listeners.stats().connections.open).toBe(0);
  });

  test('reload with a new certificate: new connections get it, the listener stays', async () => {
    running = await startListeners(tlsConfig(false));
    const port = running.port('tls');
    const fresh = makeTestCerts();
    try {
      await running.listeners.update(
        listenConfig({ tls: [here], tlsCert: fresh.serverCert, tlsKey: fresh.serverKey }),
        loopbackPolicy(),
      );
      expect(running.port('tls')).toBe(port);
      // Verified against the old CA the new certificate fails; against its own CA it works.
      const old = await sClient(port, frame('<13>x app: old ca'));
      expect(old.out).toMatch(/verify error|certificate verify failed|unable to get local issuer/i);
      const text = unique('new certificate');
      const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', fresh.ca, '-verify_return_error', '-quiet', '-no_ign_eof'];
      const child = spawn('openssl', args, { stdio: ['pipe', 'ignore', 'ignore'] });
      child.stdin.end(frame(`<13>Nov 21 19:28:35 mx1 app: ${text}`));
      await running.sink.next(text);
    } finally {
      fresh.remove();
    }
  });
});

describe.skipIf(missing('TLS with rsyslog gtls', { commands: ['openssl', 'rsyslogd', 'logger'] }))('rsyslogd omfwd over TLS (gtls driver)', () => {
  test('mutual TLS, x509/name: the server is checked by name, the client by its certificate', async () => {
    running = await startListeners(tlsConfig(true));
    rsyslog = await startRsyslog({
      globals: {
        DefaultNetstreamDriverCAFile: certs.ca,
        DefaultNetstreamDriverCertFile: certs.clientCert,
        DefaultNetstreamDriverKeyFile: certs.clientKey,
      },
      config: forwardTo(running.port('tls'), {
        protocol: 'tcp',
        framing: 'octet-counted',
        extra: 'StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost"',
      }),
    });
    const text = unique('vchkpw-pop3: vpopmail user not found www@:203.0.113.7');
    await run('logger', ['-u', rsyslog.socket, '-t', 'vpopmail', '--id=20410', '-p', 'mail.info', text]);
    const ev = await running.sink.next(text, 20_000).catch((err: Error) => {
      throw new Error(`${err.message}\nrsyslogd said: ${rsyslog!.stderr()}`);
    });
    expect(ev).toMatchObject({ source: 'tls', hostname: 'mx1.example.com', app: 'vpopmail', pid: '20410', message: text });
  });
});
