import { spawn } from 'node:child_process';
import { afterEach, expect, test } from 'vitest';
import { UdpReceiveThread } from '../../src/sources/udp-receive-thread.js';
import { UdpSocketDrops } from '../../src/sources/udp-socket-drops.js';
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

// The thread hands datagrams over through a ring in shared memory. These run
// the thread alone, with rings small enough to wrap many times and to fill.

/** A child that sends datagrams 0..n-1 of sizes from 1 to 1,500 bytes, `perTick` every 10 ms; each starts with "n=K ". */
function blastSizes(port: number, n: number, perTick: number): Promise<void> {
  const code = `
const s = require('node:dgram').createSocket('udp4');
s.connect(${port}, '127.0.0.1', () => {
  let i = 0;
  const line = (k) => { const head = 'n=' + k + ' '; return Buffer.from(head + 'y'.repeat((k * 37) % 1500)); };
  (function more() { for (let j = 0; j < ${perTick} && i < ${n}; j++, i++) s.send(line(i)); if (i < ${n}) setTimeout(more, 10); else setTimeout(() => s.close(), 300); })();
});`;
  const child = spawn(process.execPath, ['-e', code], { stdio: 'inherit' });
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

interface Taken {
  seq: number[];
  bad: number;
  dropped: number;
  thread: UdpReceiveThread;
  drops: UdpSocketDrops;
}

/** A receive thread on a ring of `ring` bytes whose datagrams are checked (length and content) and kept in order. */
async function ringReader(ring: number): Promise<Taken> {
  const got: Taken = { seq: [], bad: 0, dropped: 0 } as unknown as Taken;
  const visit = (buf: Buffer, start: number, end: number, from: string) => {
    const text = buf.toString('latin1', start, end);
    const k = Number(/^n=(\d+) /.exec(text)?.[1]);
    if (from !== '127.0.0.1' || text.length !== `n=${k} `.length + ((k * 37) % 1500)) got.bad++;
    got.seq.push(k);
  };
  const thread = await UdpReceiveThread.start(
    { host: '127.0.0.1', port: 0, type: 'udp4', recvBufferSize: 8 * 1024 * 1024, maxPendingBytes: ring },
    {
      onReadable: () => {
        while (thread.read(64, visit) === 64) {
          /* empty it */
        }
        thread.arm();
      },
      onDropped: (counts) => {
        for (const n of Object.values(counts)) got.dropped += n;
      },
      onWarning: () => {},
    },
  );
  thread.arm();
  got.thread = thread;
  got.drops = new UdpSocketDrops('127.0.0.1', thread.port, 'udp4');
  return got;
}

test('datagrams of every size pass through a 16 KiB ring that wraps hundreds of times, whole and in order', async () => {
  const r = await ringReader(16 * 1024);
  const n = 10_000;
  await blastSizes(r.thread.port, n, 50);
  await new Promise((res) => setTimeout(res, 200));
  await r.thread.close();
  const kernel = r.drops.read() ?? 0;
  // Every datagram is accounted for: taken, dropped for a full ring, or dropped by the kernel.
  expect(r.seq.length + r.dropped + kernel).toBe(n);
  expect(r.bad).toBe(0);
  expect(r.seq.every((k, i) => i === 0 || k > r.seq[i - 1]!)).toBe(true);
  // About 750 bytes each: the ring went round far more than once.
  expect(r.seq.length).toBeGreaterThan(n / 2);
});

test('a ring that fills while the main thread is stalled drops the newest datagrams and counts each one', async () => {
  const r = await ringReader(64 * 1024);
  const n = 3_000;
  const sent = blastSizes(r.thread.port, n, 200);
  await new Promise((res) => setTimeout(res, 100));
  stall(800);
  await sent;
  await new Promise((res) => setTimeout(res, 200));
  await r.thread.close();
  const kernel = r.drops.read() ?? 0;
  expect(r.dropped).toBeGreaterThan(0);
  expect(r.seq.length + r.dropped + kernel).toBe(n);
  expect(r.bad).toBe(0);
  expect(r.seq.every((k, i) => i === 0 || k > r.seq[i - 1]!)).toBe(true);
});
