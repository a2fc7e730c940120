/**
 * How much a jail costs when a botnet spreads over a million addresses:
 * 1,000,000 distinct addresses, each failing once (then once more) within
 * findtime, fed to JailManager.onMatch as the pipeline feeds it.
 *
 * Targets (issue 5): under 250 MB resident with a million addresses
 * tracked, under 2 µs per failure on the decision path.
 * Peer: fail2ban's own FailManager fed the same workload, run side by side
 * (bench/jails-peer-fail2ban.py, with Debian's fail2ban).
 *
 *   npx tsx bench/jails-failures.ts [ADDRESSES]      (node --expose-gc for a cleaner RSS figure)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ConfigSet } from '../src/config/config-set.js';
import { jailsFrom } from '../src/config/jail-reader.js';
import { BanBook } from '../src/bans/ban-book.js';
import { JailManager } from '../src/jails/jail-manager.js';
import type { JailMatch } from '../src/jails/filter-match.js';
import type { LogEvent } from '../src/model/log-event.js';
import { CidrSet } from '../src/net/cidr-set.js';
import { SqliteStateStore } from '../src/state/sqlite-state-store.js';

const N = Number(process.argv[2] ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc;
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const rss = () => {
  gc?.();
  return process.memoryUsage().rss;
};

const dir = mkdtempSync(join(tmpdir(), 'fleetban-bench-'));
try {
  const state = SqliteStateStore.open(join(dir, 'state.sqlite'), { flushMs: 0 });
  let bans = 0;
  const logger = pino({ level: 'silent' });
  const book = new BanBook({ state, logger, timers: false });
  book.subscribe(() => void bans++);
  const manager = new JailManager({
    state,
    book,
    jails: jailsFrom(ConfigSet.fromString('[vpopmail]\nenabled = true\nmaxretry = 5\nfindtime = 10m\nbantime = 1h\nignoreself = false\n', 'bench')),
    neverBan: new CidrSet(),
    logger,
    timers: false,
  });
  manager.start();

  // What the filter hands over per line: a fresh address string, dropped after
  // the call (a jail must not keep it). Made in batches outside the timing.
  const BATCH = 10_000;
  const batch = new Array<string>(BATCH);
  const now = Date.now();
  const line = 'vchkpw-pop3: password fail (pass: ***) bob@example.com';
  const ev: LogEvent = { time: now, received: now, source: 'udp', origin: 'mx1', message: line, raw: line };
  const fields = { user: 'bob@example.com' };
  const address = (i: number) => `${10 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
  const base = rss();

  const round = (): number => {
    let ns = 0n;
    for (let from = 0; from < N; from += BATCH) {
      const n = Math.min(BATCH, N - from);
      for (let i = 0; i < n; i++) batch[i] = address(from + i);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const m: JailMatch = { ip: batch[i]!, time: now, fields, line };
        manager.onMatch('vpopmail', m, ev);
      }
      ns += process.hrtime.bigint() - t0;
    }
    return Number(ns) / 1000 / N;
  };
  const newUs = round();
  const tracked = rss();
  const againUs = round();
  const status = manager.status('vpopmail') as { currentlyFailed: number };

  const t1 = process.hrtime.bigint();
  let flushes = 0;
  while (manager.pendingFailureWrites() > 0) {
    state.flush();
    flushes++;
  }
  const flushUs = Number(process.hrtime.bigint() - t1) / 1000 / N;

  // Bans: 10,000 addresses reaching maxretry, each ban committed to SQLite by the ban book before it is announced.
  const B = Math.min(10_000, N);
  const t2 = process.hrtime.bigint();
  for (let r = 0; r < 3; r++) for (let i = 0; i < B; i++) manager.onMatch('vpopmail', { ip: address(i), time: now, fields, line }, ev);
  const banUs = Number(process.hrtime.bigint() - t2) / 1000 / B;

  manager.stop();
  state.close();

  console.log(`fleetban jails: ${N.toLocaleString('en')} distinct addresses, maxretry 5, findtime 10m`);
  console.log(`  tracked:                     ${status.currentlyFailed.toLocaleString('en')}`);
  console.log(`  decision path, new address:  ${newUs.toFixed(3)} µs/failure   (target < 2 µs)`);
  console.log(`  decision path, known address:${againUs.toFixed(3)} µs/failure`);
  console.log(`  RSS with them tracked:       ${mb(tracked)} MB for the process, of which ${mb(tracked - base)} MB for the jail   (target < 250 MB)`);
  console.log(`  write-behind flush:          ${flushUs.toFixed(3)} µs/address, ${((N * flushUs) / 1e6).toFixed(2)} s in all, in ${flushes} flushes of at most 20,000 (off the decision path)`);
  console.log(`  ban (SQLite commit + announce): ${banUs.toFixed(1)} µs per ban, ${bans.toLocaleString('en')} bans`);

  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const peer = spawnSync(python, [new URL('./jails-peer-fail2ban.py', import.meta.url).pathname, String(N)], { encoding: 'utf8' });
  if (peer.status !== 0) {
    console.log(`  peer (fail2ban FailManager): not run: ${(peer.stderr || peer.error?.message || '').trim().split('\n').pop()}`);
  } else {
    const p = JSON.parse(peer.stdout) as { new_us: number; again_us: number; maxrss_mb: number };
    console.log(`fail2ban FailManager, same workload (Python, run side by side):`);
    console.log(`  new address:   ${p.new_us.toFixed(3)} µs/failure   ratio fail2ban/fleetban ${(p.new_us / newUs).toFixed(1)}x`);
    console.log(`  known address: ${p.again_us.toFixed(3)} µs/failure   ratio ${(p.again_us / againUs).toFixed(1)}x`);
    console.log(`  max RSS:       ${p.maxrss_mb.toFixed(1)} MB         ratio ${(p.maxrss_mb / (tracked / 1024 / 1024)).toFixed(1)}x`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
