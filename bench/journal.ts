/**
 * The journal source from end to end: a real journal of 500,000 entries
 * (written by systemd-journal-remote, as on a central host), followed with
 * journalctl through JournalFollower into the real Pipeline and the shipped
 * courier-auth filter, until every failure is counted.
 *
 * - entries/s, every entry read (no journalmatch): what a jail without
 *   journalmatch costs;
 * - entries/s with courier-auth's journalmatch, which excludes the 90% of
 *   entries that are other units: journalctl skips them in the journal's
 *   index and fleetban never parses them;
 * - delay from writing one entry (export format into journal-remote) to its
 *   failure being counted, on a follower that waits at the journal's end;
 * - peer: fail2ban-regex with its systemd backend (python3-systemd) on the
 *   same journal folder and the same filter file, with and without the
 *   journalmatch.
 *
 * journalctl's JSON output is most of the cost: on a 500,000-entry journal
 * `journalctl -o json --output-fields=...` alone takes about 3.4 times the
 * CPU of `-o export` with the same fields.
 *
 *   npx tsx bench/journal.ts [ENTRIES] [LATENCY-SAMPLES]
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { loadFilter } from '../src/filters/filter.js';
import type { FilterMatch } from '../src/filters/filter.js';
import { Pipeline } from '../src/service/pipeline.js';
import { MemoryCursorStore } from '../src/sources/journal/file-cursor-store.js';
import { JournalFollower } from '../src/sources/journal/journal-follower.js';
import { encodeExportEntry, type ExportEntry, JOURNAL_REMOTE, JournalWriter } from '../test/helpers/journal-writer.js';

const N = Number(process.argv[2] ?? 500_000);
const SAMPLES = Number(process.argv[3] ?? 200);
const CONF = join(import.meta.dirname, '../conf');
const FILTER_FILE = join(CONF, 'filter.d/courier-auth.conf');
const quiet = pino({ level: 'silent' });
const courier = loadFilter(CONF, 'courier-auth');
const MATCHES = courier.journalmatch;
const FAILURES = Math.ceil(N / 10);

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const BOOT = 'b0f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';
const MACHINE = '0123456789abcdef0123456789abcdef';

/** Entry i: every tenth a Courier failed login, the others postfix and cron chatter, spread over the last hour. */
function entry(i: number, start: bigint): ExportEntry {
  const host = `mx${1 + (i % 3)}.example.net`;
  const common = {
    __REALTIME_TIMESTAMP: start + BigInt(i) * 7_000n,
    _BOOT_ID: BOOT,
    _MACHINE_ID: MACHINE,
    _HOSTNAME: host,
    _TRANSPORT: 'syslog',
    PRIORITY: '6',
    SYSLOG_FACILITY: '2',
    _UID: '0',
    _GID: '0',
    _CAP_EFFECTIVE: '1ffffffffff',
  };
  const a = i % 250;
  if (i % 10 === 0) {
    return {
      ...common,
      _SYSTEMD_UNIT: 'courier-imap.service',
      SYSLOG_IDENTIFIER: 'imapd',
      _COMM: 'imapd',
      _EXE: '/usr/lib/courier/courier/imapd',
      _PID: String(1000 + (i % 30000)),
      MESSAGE: `LOGIN FAILED, user=user${i % 5000}@example.com, ip=[::ffff:203.0.113.${a}]`,
    };
  }
  if (i % 10 < 6) {
    return {
      ...common,
      _SYSTEMD_UNIT: 'postfix@-.service',
      SYSLOG_IDENTIFIER: 'postfix/smtpd',
      _COMM: 'smtpd',
      _EXE: '/usr/lib/postfix/sbin/smtpd',
      _PID: String(2000 + (i % 30000)),
      MESSAGE: i % 2 ? `connect from unknown[198.51.100.${a}]` : `disconnect from unknown[198.51.100.${a}] ehlo=1 quit=1 commands=2`,
    };
  }
  return {
    ...common,
    _SYSTEMD_UNIT: 'cron.service',
    SYSLOG_IDENTIFIER: 'CRON',
    _COMM: 'cron',
    _PID: String(3000 + (i % 30000)),
    MESSAGE: `pam_unix(cron:session): session opened for user root(uid=0) by (uid=0) #${i}`,
  };
}

/** Writes N entries into DIR/x.journal with one journal-remote run reading an export file. */
async function buildJournal(dir: string): Promise<number> {
  const exportFile = join(dir, 'entries.export');
  const fd = openSync(exportFile, 'w');
  const start = (BigInt(Date.now()) - 3_600_000n) * 1000n;
  const parts: Buffer[] = [];
  for (let i = 0; i < N; i++) {
    parts.push(encodeExportEntry(entry(i, start)));
    if (parts.length === 10_000) writeSync(fd, Buffer.concat(parts.splice(0)));
  }
  if (parts.length) writeSync(fd, Buffer.concat(parts));
  closeSync(fd);
  const t0 = performance.now();
  const input = openSync(exportFile, 'r');
  const child = spawn(JOURNAL_REMOTE, ['-o', join(dir, 'x.journal'), '-'], { stdio: [input, 'ignore', 'ignore'] });
  await new Promise<void>((resolve, reject) => child.once('exit', (c) => (c === 0 ? resolve() : reject(new Error(`journal-remote exit ${c}`)))));
  closeSync(input);
  rmSync(exportFile);
  return performance.now() - t0;
}

interface Run {
  seconds: number;
  entries: number;
  failures: number;
  peakRssMb: number;
  startRssMb: number;
}

/** Follows the journal from its first entry until all failures are counted. */
async function follow(dir: string, matches: string[][]): Promise<Run> {
  let failures = 0;
  const pipeline = new Pipeline<FilterMatch>(
    [{ name: 'courier-auth', filterName: 'courier-auth', sources: null, filter: courier }],
    () => failures++,
    quiet,
  );
  const follower = new JournalFollower({ enabled: 'yes', directory: dir, sinceSeconds: 2 * 3600 }, pipeline, {
    matches,
    cursors: new MemoryCursorStore(),
    originOf: (h) => h ?? 'unknown',
    logger: quiet,
    settled: () => pipeline.flush(),
  });
  const expected = matches.length ? FAILURES : N;
  const startRss = process.memoryUsage().rss;
  let peak = startRss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const t0 = performance.now();
  await follower.start();
  while (failures < FAILURES || follower.state().entries < expected) {
    await new Promise((r) => setTimeout(r, 5));
    if (performance.now() - t0 > 600_000) throw new Error(`stuck: ${JSON.stringify(follower.state())} failures=${failures}`);
  }
  await pipeline.flush();
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const entries = follower.state().entries;
  await follower.stop();
  return { seconds, entries, failures, peakRssMb: peak / 1024 / 1024, startRssMb: startRss / 1024 / 1024 };
}

/** Delay from handing an entry to journal-remote to the failure being counted. */
async function latency(): Promise<number[]> {
  const w = JournalWriter.start();
  const seen = new Map<string, () => void>();
  const pipeline = new Pipeline<FilterMatch>(
    [{ name: 'courier-auth', filterName: 'courier-auth', sources: null, filter: courier }],
    (_jail, m) => seen.get(m.fields.user ?? '')?.(),
    quiet,
  );
  await w.write({ MESSAGE: 'start', _SYSTEMD_UNIT: 'cron.service' });
  await w.waitForEntries(1);
  const follower = new JournalFollower({ enabled: 'yes', directory: w.dir, sinceSeconds: 0 }, pipeline, {
    matches: MATCHES,
    cursors: new MemoryCursorStore(),
    originOf: (h) => h ?? 'unknown',
    logger: quiet,
  });
  await follower.start();
  await new Promise((r) => setTimeout(r, 300));
  const out: number[] = [];
  try {
    for (let k = 0; k < SAMPLES; k++) {
      const user = `late${k}@example.com`;
      const done = new Promise<void>((resolve) => seen.set(user, resolve));
      const t0 = performance.now();
      await w.write({
        _HOSTNAME: 'mx1.example.net',
        _SYSTEMD_UNIT: 'courier-imap.service',
        SYSLOG_IDENTIFIER: 'imapd',
        _PID: '4711',
        MESSAGE: `LOGIN FAILED, user=${user}, ip=[::ffff:203.0.113.${k % 250}]`,
      });
      await done;
      out.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    await follower.stop();
    await w.close();
  }
  return out.sort((a, b) => a - b);
}

interface PeerRun {
  seconds: number;
  lines: number;
  matched: number;
}

/** fail2ban-regex with its systemd backend on the same folder and filter file. */
function fail2banRegex(dir: string, withMatch: boolean): PeerRun | string {
  const args = [`systemd-journal[journalpath=${dir}]`, FILTER_FILE];
  // fail2ban-regex applies the filter's journalmatch itself; an empty -m turns it off.
  if (!withMatch) args.unshift('-m', '');
  const t0 = performance.now();
  const r = spawnSync('fail2ban-regex', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 1_800_000 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.error) return `fail2ban-regex could not run: ${r.error.message}`;
  const m = /Lines: (\d+) lines, \d+ ignored, (\d+) matched/.exec(r.stdout);
  if (!m) return `fail2ban-regex said: ${(r.stdout + r.stderr).trim().split('\n').slice(-3).join(' | ')}`;
  return { seconds, lines: Number(m[1]), matched: Number(m[2]) };
}

const pct = (s: number[], p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;

const dir = mkdtempSync(join(tmpdir(), 'fleetban-bench-journal-'));
try {
  console.log(`journal of ${fmt(N)} entries (${fmt(FAILURES)} Courier failed logins, 90% other units), filter courier-auth`);
  const built = await buildJournal(dir);
  console.log(`  written by systemd-journal-remote in ${(built / 1000).toFixed(1)} s`);
  const peerAll = fail2banRegex(dir, false);
  const peerMatch = fail2banRegex(dir, true);
  const all = await follow(dir, []);
  const matched = await follow(dir, MATCHES);
  const row = (name: string, r: Run, peer: PeerRun | string) => {
    const rate = N / r.seconds;
    let line = `${name.padEnd(28)} fleetban ${fmt(rate).padStart(9)} entries/s (${r.seconds.toFixed(2)} s, ${fmt(r.failures)} failures, RSS ${r.startRssMb.toFixed(0)} -> peak ${r.peakRssMb.toFixed(0)} MB)`;
    if (typeof peer === 'string') line += `\n${''.padEnd(28)} fail2ban-regex: ${peer}`;
    else {
      const peerRate = N / peer.seconds;
      line += `\n${''.padEnd(28)} fail2ban-regex ${fmt(peerRate).padStart(9)} entries/s (${peer.seconds.toFixed(2)} s, ${fmt(peer.matched)} matched of ${fmt(peer.lines)} lines)  ratio ${(rate / peerRate).toFixed(1)}x`;
    }
    console.log(line);
  };
  console.log('entries/s = journal entries / time until every failure was counted');
  row('no journalmatch', all, peerAll);
  row('journalmatch (90% excluded)', matched, peerMatch);
  const lat = await latency();
  console.log(
    `delay write -> failure counted (${lat.length} entries, one at a time): p50 ${pct(lat, 50).toFixed(2)} ms, p90 ${pct(lat, 90).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms, max ${lat.at(-1)!.toFixed(2)} ms`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
