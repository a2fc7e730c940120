import { spawn } from 'node:child_process';
import { afterEach, expect, test } from 'vitest';
import { listenConfig, startListeners, type Running } from './listener-fixture.js';

// The UDP socket is emptied by its own thread, so a main thread held up by
// the filters, SQLite or the garbage collector loses no datagrams; and the
// memory it may fill meanwhile is capped, the excess counted as overload.

let running: Running | undefined;
afterEach(async () => {
  await running?.listeners.stop();
  running = undefined;
});

/** A child process that sends `n` datagrams of `size` bytes, 20,000 a second, then exits. */
function blast(port: number, n: number, size: number): Promise<void> {
  const code = `
const s = require('node:dgram').createSocket('udp4');
s.connect(${port}, '127.0.0.1', () => {
  let i = 0;
  const line = (k) => { const head = '<13>Nov 21 19:28:18 mx1 app: n=' + k + ' '; return Buffer.from(head + 'x'.repeat(Math.max(0, ${size} - head.length))); };
  (function more() { for (let j = 0; j < 200 && i < ${n}; j++, i++) s.send(line(i)); if (i < ${n}) setTimeout(more, 10); else setTimeout(() => s.close(), 300); })();
});`;
  const child = spawn(process.execPath, ['-e', code], { stdio: 'inherit' });
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Holds the main thread, as a long filter run or a synchronous SQLite write would. */
function stall(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    /* busy */
  }
}

test('20,000 datagrams arriving while the main thread is stalled for a second and a half are all received', async () => {
  // A small kernel buffer on purpose: alone it would hold a few hundred of them.
  running = await startListeners(listenConfig({ udp: [{ host: '127.0.0.1', port: 0 }], recvBufferSize: 256 * 1024 }));
  const n = 20_000;
  const sent = blast(running.port('udp'), n, 150);
  // Let the child start sending, then hold the main thread through most of the burst.
  await new Promise((r) => setTimeout(r, 150));
  stall(1500);
  await sent;
  await running.sink.waitFor(() => running!.sink.events.length >= n, 20_000, `${n} datagrams`);
  const s = running.listeners.stats().sources['udp 127.0.0.1:0']!;
  expect(s).toMatchObject({ received: n, parsed: n });
  expect(new Set(running.sink.events.map((e) => e.message.slice(0, 12))).size).toBeGreaterThan(1);
});
