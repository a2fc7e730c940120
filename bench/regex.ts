/**
 * fleetban regex against fail2ban-regex on the same log and the same filter
 * files: lines per second of each, the ratio, and a check that both found
 * the same number of failures.
 *
 *   npx tsx bench/regex.ts [--lines 500000] [--runs 3] [--f2b-runs N] [--all] [--keep DIR]
 *
 * By default the two courier-auth filters (the shipped one and fail2ban's),
 * the figure issue 14 asks about (goal: 20x fail2ban-regex, whole process);
 * --all adds courier-smtp and vpopmail. The two tools take turns (fail2ban-regex,
 * fleetban, fail2ban-regex, ...), so a machine that slows down moves both.
 *
 * The log comes from test/fixtures/tools/gen_courier.py (RFC 3164 lines as a
 * central rsyslog writes them, 25% courier-auth, 5% courier-smtp and 5%
 * vpopmail failures, the rest noise, 10% of the attacks over IPv6).
 *
 * Three figures per tool:
 * - processing: the time each tool reports for matching the file
 *   (fail2ban-regex's "[processed in X sec]", fleetban's "seconds"), which
 *   leaves out starting the interpreter and reading the filter;
 * - wall: the whole command, start to exit, as a user waits for it;
 * - cpu: user + system CPU seconds of the whole command (/usr/bin/time),
 *   which a busy machine disturbs least.
 * fleetban runs from dist/ (built if older than src/); the best of --runs
 * runs is reported for both (fail2ban-regex is run --runs times too unless
 * --f2b-runs says otherwise).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from '../test/helpers/build.js';
import { machineLoad } from './ratio-record.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const GEN = join(ROOT, 'test', 'fixtures', 'tools', 'gen_courier.py');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i !== -1 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

if (process.argv.includes('--help')) {
  console.log('npx tsx bench/regex.ts [--lines 500000] [--runs 3] [--f2b-runs N] [--all] [--keep DIR]');
  process.exit(0);
}
const LINES = Number(arg('lines', '500000'));
const ALL = process.argv.includes('--all');
const RUNS = Number(arg('runs', '3'));
const F2B_RUNS = Number(arg('f2b-runs', String(RUNS)));
const keep = process.argv.indexOf('--keep') !== -1 ? arg('keep', '') : '';


interface Run {
  matched: number;
  processing: number;
  wall: number;
  /** CPU seconds (user + system) of the whole command: the fairest figure on a busy machine. */
  cpu: number;
}

const TIME = '/usr/bin/time';
const HAVE_TIME = existsSync(TIME);

function timeIt(cmd: string, args: string[]): { stdout: string; stderr: string; status: number | null; wall: number; cpu: number } {
  const t0 = process.hrtime.bigint();
  const r = HAVE_TIME
    ? spawnSync(TIME, ['-f', 'CPU %U %S', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 })
    : spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
  const cpu = m ? Number(m[1]) + Number(m[2]) : NaN;
  return { stdout: r.stdout, stderr: m ? r.stderr.slice(0, m.index) : r.stderr, status: r.status, wall, cpu };
}

function fail2banRegex(log: string, filter: string): Run {
  const r = timeIt('fail2ban-regex', [log, filter]);
  const m = /Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed/.exec(r.stdout);
  const p = /\[processed in ([\d.]+) sec\]/.exec(r.stdout);
  if (!m || !p) throw new Error(`fail2ban-regex printed no summary:\n${r.stdout}\n${r.stderr}`);
  return { matched: Number(m[3]), processing: Number(p[1]), wall: r.wall, cpu: r.cpu };
}

function fleetbanRegex(log: string, filter: string): Run | { error: string } {
  const r = timeIt(process.execPath, [CLI, '-c', join(ROOT, 'conf'), 'regex', log, filter, '--json']);
  if (r.status === 2) return { error: r.stderr.trim() };
  const j = JSON.parse(r.stdout) as { matched: number; seconds: number };
  return { matched: j.matched, processing: j.seconds, wall: r.wall, cpu: r.cpu };
}

function best(runs: Run[]): Run {
  return {
    matched: runs[0]!.matched,
    processing: Math.min(...runs.map((r) => r.processing)),
    wall: Math.min(...runs.map((r) => r.wall)),
    cpu: Math.min(...runs.map((r) => r.cpu)),
  };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function main(): void {
  execFileSync('fail2ban-regex', ['--version'], { stdio: 'ignore' });
  ensureBuilt();
  const dir = keep || mkdtempSync(join(tmpdir(), 'fleetban-bench-regex-'));
  mkdirSync(dir, { recursive: true });
  const log = join(dir, `courier-${LINES}.log`);
  if (!existsSync(log)) {
    execFileSync('python3', [GEN, '--lines', String(LINES), '--ipv6-ratio', '0.1', '--out', log], { stdio: 'ignore' });
  }
  const filters = [
    join(ROOT, 'conf', 'filter.d', 'courier-auth.conf'),
    ...(ALL ? [join(ROOT, 'conf', 'filter.d', 'courier-smtp.conf'), join(ROOT, 'conf', 'filter.d', 'vpopmail.conf')] : []),
    '/etc/fail2ban/filter.d/courier-auth.conf',
    ...(ALL ? ['/etc/fail2ban/filter.d/courier-smtp.conf'] : []),
  ];
  console.log(`log: ${LINES} lines from gen_courier.py; best of ${RUNS} fleetban runs, ${F2B_RUNS} fail2ban-regex runs, taking turns; load average ${machineLoad()}`);
  console.log('lines/s: processing (as each tool reports it), wall and CPU time (whole command, start to exit)\n');
  const header = ['filter file', 'matched', 'f2b proc', 'fleetban proc', 'ratio', 'f2b wall', 'fleetban wall', 'ratio', 'f2b cpu', 'fleetban cpu', 'ratio'];
  const rows: string[][] = [];
  let ok = true;
  for (const filter of filters) {
    const name = filter.replace(ROOT + '/', '').replace('/etc/fail2ban/', 'fail2ban:');
    const ours: Run[] = [];
    const theirs: Run[] = [];
    let error = '';
    for (let i = 0; i < Math.max(RUNS, F2B_RUNS) && !error; i++) {
      if (i < F2B_RUNS) theirs.push(fail2banRegex(log, filter));
      if (i >= RUNS) continue;
      const r = fleetbanRegex(log, filter);
      if ('error' in r) error = r.error;
      else ours.push(r);
    }
    if (error) {
      rows.push([name, `fleetban cannot read it: ${error}`]);
      ok = false;
      continue;
    }
    const a = best(theirs);
    const b = best(ours);
    const same = a.matched === b.matched;
    if (!same) ok = false;
    rows.push([
      name,
      same ? fmt(b.matched) : `DIFFER: fail2ban ${a.matched}, fleetban ${b.matched}`,
      fmt(LINES / a.processing),
      fmt(LINES / b.processing),
      `${(a.processing / b.processing).toFixed(1)}x`,
      fmt(LINES / a.wall),
      fmt(LINES / b.wall),
      `${(a.wall / b.wall).toFixed(1)}x`,
      fmt(LINES / a.cpu),
      fmt(LINES / b.cpu),
      `${(a.cpu / b.cpu).toFixed(1)}x`,
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.filter((r) => r.length > 2).map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 || i === 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(r.length === 2 ? `${r[0]!.padEnd(widths[0]!)}  ${r[1]}` : line(r));
  console.log(`load average at the end: ${machineLoad()}`);
  if (!keep) rmSync(dir, { recursive: true, force: true });
  if (!ok) process.exitCode = 1;
}

main();
