/**
 * Start-up: from exec of `fleetban run` on the shipped configuration to its
 * TCP listener accepting a connection, beside the floor of the same
 * measurement, a bare `node` that does nothing but listen. The two run in
 * turn (fleetban, floor, fleetban, floor, ...) and the ratio is taken pair
 * by pair, so a machine that slows down during the run moves both.
 *
 *   npx tsx bench/startup.ts [--runs 10] [--record] [--cli OTHER-BUILD/dist/src/cli/main.js]
 *
 * The shipped conf/ is copied with only the state folder and the listen
 * ports changed (so it runs beside a real service). Goal (issue 14):
 * listening within 300 ms of exec on a quiet machine.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureBuilt } from '../test/helpers/build.js';
import { checkRatios, machineLoad, median } from './ratio-record.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' }, record: { type: 'boolean', default: false }, cli: { type: 'string' } } });
const RUNS = Number(values.runs);
const ROOT = join(import.meta.dirname, '..');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
  });
}

/** CPU milliseconds (user + system, all threads) the process has used so far, from /proc. */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat(5) (utime, stime), in clock ticks of 10 ms.
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

interface Start {
  /** Wall milliseconds from spawn to the first accepted connection. */
  wall: number;
  /** CPU milliseconds used by then (a loaded machine disturbs it least). */
  cpu: number;
}

/** Time from spawn to the first accepted TCP connection on `port`; then the process is stopped. */
async function timeToListen(argv: string[], port: number): Promise<Start> {
  const t0 = performance.now();
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const ms = await new Promise<Start>((resolve, reject) => {
    const attempt = () => {
      if (gone) return reject(new Error(`exited before listening: ${stderr.trim()}`));
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        const wall = performance.now() - t0;
        const cpu = cpuMs(child.pid!);
        s.destroy();
        resolve({ wall, cpu });
      });
      s.once('error', () => setTimeout(attempt, 1));
    };
    attempt();
  });
  child.kill('SIGTERM');
  await exited;
  return ms;
}

// --cli: another build's main.js (an older commit's), to see what a change gained.
const cli = values.cli ?? ensureBuilt();
const dir = mkdtempSync(join(tmpdir(), 'fleetban-bench-startup-'));
try {
  const conf = join(dir, 'conf');
  cpSync(join(ROOT, 'conf'), conf, { recursive: true });
  const port = await freePort();
  const metricsPort = await freePort();
  const cfgFile = join(conf, 'fleetban.conf');
  writeFileSync(
    cfgFile,
    readFileSync(cfgFile, 'utf8')
      .replace(/^statedir = .*$/m, `statedir = ${join(dir, 'state')}`)
      .replace(/^udp = .*$/m, `udp = 127.0.0.1:${port}`)
      .replace(/^tcp = .*$/m, `tcp = 127.0.0.1:${port}`)
      .replace(/^(\[metrics\][^[]*?)listen = .*$/m, `$1listen = 127.0.0.1:${metricsPort}`),
  );
  const fleetbanArgv = [cli, '-c', conf, 'run'];
  const floorArgv = ['-e', `require('node:net').createServer().listen(${port}, '127.0.0.1'); process.on('SIGTERM', () => process.exit(0))`];
  // One of each first: the page cache and the state file's creation are not start-up.
  await timeToListen(fleetbanArgv, port);
  await timeToListen(floorArgv, port);
  const ours: Start[] = [];
  const floor: Start[] = [];
  for (let i = 0; i < RUNS; i++) {
    ours.push(await timeToListen(fleetbanArgv, port));
    floor.push(await timeToListen(floorArgv, port));
  }
  const wallRatio = median(ours.map((a, i) => a.wall / floor[i]!.wall));
  const cpuRatio = median(ours.map((a, i) => a.cpu / floor[i]!.cpu));
  const fmt = (xs: number[]) => `median ${median(xs).toFixed(0).padStart(5)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
  console.log(`start-up, exec to TCP listener accepting, ${RUNS} runs each in turn, load average ${machineLoad()}`);
  console.log(`  fleetban run (shipped conf)          wall ${fmt(ours.map((r) => r.wall))}   cpu ${fmt(ours.map((r) => r.cpu))}`);
  console.log(`  floor: node listening, nothing else  wall ${fmt(floor.map((r) => r.wall))}   cpu ${fmt(floor.map((r) => r.cpu))}`);
  console.log(`  fleetban / floor, pair by pair       wall median ${wallRatio.toFixed(2)}x   cpu median ${cpuRatio.toFixed(2)}x`);
  console.log('  (goal: fleetban listening within 300 ms of exec on a quiet machine)');
  checkRatios({
    'startup wall': { ratio: 1 / wallRatio, what: 'bare node listening / fleetban run listening, wall time from exec' },
    'startup cpu': { ratio: 1 / cpuRatio, what: 'bare node listening / fleetban run listening, CPU time until listening' },
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
