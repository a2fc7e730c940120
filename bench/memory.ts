/**
 * Memory with a botnet's worth of addresses tracked (issue 14: 1,000,000
 * tracked addresses under 250 MB). Each address fails once, below
 * maxretry, inside findtime: the jail must remember every one of them.
 *
 *   npx tsx bench/memory.ts [--addresses 1000000] [--no-service] [--no-peer]
 *
 * Three figures, in one run:
 * 1. the failure window alone (src/jails/failure-window.ts), in this
 *    process: bytes per address of its typed arrays and index;
 * 2. the whole service: `fleetban run` on the shipped configuration, fed
 *    one courier-auth failure line per address over TCP, as a mail server
 *    sends them; once `fleetban status courier-auth` counts them all, its
 *    resident memory (VmRSS, peak VmHWM, from /proc) and V8 heap (from
 *    /metrics) beside the same figures before the first line;
 * 3. the peer: fail2ban's own FailManager holding the same addresses
 *    (bench/jails-peer-fail2ban.py, Debian's fail2ban), its peak RSS.
 * The ratio printed is the peer's peak RSS over fleetban's.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FailureWindow } from '../src/jails/failure-window.js';
import { ensureBuilt } from '../test/helpers/build.js';
import { cli, removeConfDir, ServiceProcess, testConfDir } from '../test/helpers/service-process.js';
import { machineLoad } from './ratio-record.js';

const { values } = parseArgs({
  options: {
    addresses: { type: 'string', default: '1000000' },
    'no-service': { type: 'boolean', default: false },
    'no-peer': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('npx tsx bench/memory.ts [--addresses 1000000] [--no-service] [--no-peer]');
  process.exit(0);
}
const N = Number(values.addresses);
const LIMIT_MB = 250;
const MB = 1024 * 1024;
const mb = (bytes: number) => (bytes / MB).toFixed(1);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Address i of the bench: 11.0.0.0/8 counted up (never an address of this machine, which is never banned). */
const address = (i: number) => `11.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;

// ---- 1. the failure window alone ----------------------------------------

function windowAlone(): { bytesPerAddress: number; heapPerAddress: number } {
  gc();
  const before = process.memoryUsage();
  const w = new FailureWindow(5, 600_000);
  const now = Date.now();
  for (let i = 0; i < N; i++) w.add(address(i), now, 0);
  gc();
  const after = process.memoryUsage();
  if (w.size !== N) throw new Error(`the window tracks ${w.size}, not ${N}`);
  return {
    bytesPerAddress: (after.arrayBuffers - before.arrayBuffers + after.heapUsed - before.heapUsed) / N,
    heapPerAddress: (after.heapUsed - before.heapUsed) / N,
  };
}

// ---- 2. the service ---------------------------------------------------------

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function procStatus(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function heapUsed(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return Number(/^fleetban_process_nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? NaN);
}

/** "Dec  2 16:40:07", as a central rsyslog stamps RFC 3164 lines (local time, as the service reads them). */
function stamp(d: Date): string {
  const mon = d.toLocaleString('en-US', { month: 'short' });
  const two = (n: number) => String(n).padStart(2, '0');
  return `${mon} ${String(d.getDate()).padStart(2, ' ')} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** One failure line per address over one TCP connection, newline-framed, with backpressure. */
async function send(port: number): Promise<void> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  const BATCH = 2000;
  for (let from = 0; from < N; from += BATCH) {
    const ts = stamp(new Date());
    let chunk = '';
    for (let i = from; i < Math.min(N, from + BATCH); i++) {
      chunk += `<38>${ts} mx1 imapd: LOGIN FAILED, user=u${i % 1000}@example.com, ip=[::ffff:${address(i)}]\n`;
    }
    if (!sock.write(chunk)) await new Promise((r) => sock.once('drain', r));
  }
  await new Promise<void>((resolve) => sock.end(resolve));
}

interface ServiceFigures {
  tracked: number;
  seconds: number;
  before: { rss: number; heap: number };
  after: { rss: number; hwm: number; heap: number };
}

async function service(): Promise<ServiceFigures> {
  ensureBuilt();
  const tcp = await freePort();
  const metrics = await freePort();
  const conf = testConfDir({ tcp, metrics });
  // Info, not the test helper's debug: the figure is the service's, not its logging's.
  const local = join(conf, 'fleetban.local');
  writeFileSync(local, readFileSync(local, 'utf8').replace('loglevel = debug', 'loglevel = info'));
  const svc = await ServiceProcess.start(conf);
  try {
    const pid = svc.child.pid!;
    await new Promise((r) => setTimeout(r, 1000));
    const before = { rss: procStatus(pid).rss, heap: await heapUsed(metrics) };
    const t0 = performance.now();
    await send(tcp);
    // Counted when the jail says so; stop waiting once the count stops moving.
    let tracked = 0;
    let still = 0;
    while (tracked < N && still < 20) {
      await new Promise((r) => setTimeout(r, 500));
      const r = cli(conf, 'status', 'courier-auth', '--json');
      if (r.code !== 0) throw new Error(`fleetban status failed: ${r.stderr}`);
      const now = (JSON.parse(r.stdout) as { currentlyFailed: number }).currentlyFailed;
      still = now === tracked ? still + 1 : 0;
      tracked = now;
    }
    const seconds = (performance.now() - t0) / 1000;
    const p = procStatus(pid);
    return { tracked, seconds, before, after: { ...p, heap: await heapUsed(metrics) } };
  } finally {
    await svc.stop();
    removeConfDir(conf);
  }
}

// ---- 3. the peer -------------------------------------------------------------

/** Debian's python, which has Debian's fail2ban (another python3 first on PATH may not). */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function peer(): { rss: number } | { error: string } {
  const script = join(dirname(new URL(import.meta.url).pathname), 'jails-peer-fail2ban.py');
  const r = spawnSync(PYTHON, [script, String(N)], { encoding: 'utf8' });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || '').trim().split('\n').pop() ?? 'failed' };
  return { rss: (JSON.parse(r.stdout) as { maxrss_mb: number }).maxrss_mb * MB };
}

// ---- the run -----------------------------------------------------------------

console.log(`memory: ${N.toLocaleString('en-US')} distinct addresses, one failure each (below maxretry 5, inside findtime), load average ${machineLoad()}`);
const w = windowAlone();
console.log(`  failure window alone:  ${w.bytesPerAddress.toFixed(1)} bytes per address (of which ${w.heapPerAddress.toFixed(1)} on the JS heap), ${mb(w.bytesPerAddress * N)} MB for all`);
let ours: number | undefined;
if (!values['no-service']) {
  const s = await service();
  ours = s.after.hwm;
  console.log(`  fleetban run, courier-auth jail, fed over TCP in ${s.seconds.toFixed(1)} s: ${s.tracked.toLocaleString('en-US')} tracked`);
  console.log(`    RSS ${mb(s.after.rss)} MB (peak ${mb(s.after.hwm)} MB; ${mb(s.before.rss)} MB before the first line), V8 heap used ${mb(s.after.heap)} MB (${mb(s.before.heap)} MB before)`);
  console.log(`    per address: ${((s.after.rss - s.before.rss) / Math.max(1, s.tracked)).toFixed(0)} bytes of RSS, ${((s.after.heap - s.before.heap) / Math.max(1, s.tracked)).toFixed(0)} bytes of heap`);
  // The goal is about the addresses held; the peak also holds the burst that brought them (socket and parse buffers, heap growth).
  const met = s.after.rss < LIMIT_MB * MB && s.tracked >= N;
  console.log(`    goal: under ${LIMIT_MB} MB resident with ${N.toLocaleString('en-US')} tracked: ${met ? 'met' : 'NOT MET'}${s.after.hwm >= LIMIT_MB * MB ? ` (the peak while they arrived, ${mb(s.after.hwm)} MB, was not)` : ''}`);
}
if (!values['no-peer']) {
  try {
    execFileSync(PYTHON, ['-c', 'import fail2ban'], { stdio: 'ignore' });
    const p = peer();
    if ('error' in p) console.log(`  peer (fail2ban FailManager): not run: ${p.error}`);
    else {
      console.log(`  peer, fail2ban's FailManager with the same addresses: peak RSS ${mb(p.rss)} MB`);
      if (ours) console.log(`  fail2ban / fleetban, peak RSS: ${(p.rss / ours).toFixed(2)}x`);
    }
  } catch {
    console.log(`  peer (fail2ban FailManager): not run: ${PYTHON} cannot import fail2ban`);
  }
}
