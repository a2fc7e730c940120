/**
 * Ban latency over the fleet: from the ban decision (the failure that
 * crosses maxretry has just been counted) to the ban acknowledged on every
 * host, p50 and p99 over 200 bans, for 1, 5 and 20 namespace hosts, with the
 * route action over the persistent sessions. Beside it, the classic way: a
 * fail2ban action running `ssh host ip route add ...` for each host in turn,
 * and the floor: the same action command run directly inside every host's
 * namespace, all hosts in parallel (`ip netns exec NS sh -c 'ip route add ...'`),
 * which is what any pusher pays at least (a process and the kernel's work)
 * without SSH or a ledger. Goal (issue 14): fleetban within 2x of the floor.
 *
 *   npx tsx bench/fleet-latency.ts [--bans 200] [--classic 20] [--floor 50] [--hosts 1,5,20] [--record]
 *
 * Needs root (namespaces, sshd). Target (issue 6): p99 under 50 ms at 20 hosts.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { canonicalIp } from '../src/net/address.js';
import { NetnsFleet, waitFor } from '../test/helpers/netns-fleet.js';
import { allConnected, classicSsh, fmt, harness, percentile, stateDbFile } from './fleet-common.js';
import { checkRatios, machineLoad } from './ratio-record.js';

/** One command run in a namespace, as the action's shell would run it there; resolves when it exits 0. */
function inNamespace(ns: string, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, 'sh', '-c', command], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${ns}: ${command}: ${err}`))));
  });
}

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1]!;
};
const BANS = Number(arg('bans', '200'));
const CLASSIC = Number(arg('classic', '20'));
const FLOOR = Number(arg('floor', '50'));
const SIZES = arg('hosts', '1,5,20').split(',').map(Number);

const rows: string[] = [];
const ratios: Record<string, { ratio: number; what: string }> = {};
for (const n of SIZES) {
  const fleet = await NetnsFleet.create({ tag: 'x', block: 20, count: n });
  fleet.cleanupOnSignals();
  const { db, cleanup } = stateDbFile();
  const h = harness(fleet.fleetHosts('shell', { timeoutMs: 10_000, connectTimeoutMs: 10_000 }), 'route', 'bench', db);
  try {
    h.start();
    await allConnected(h);
    const acked = new Map<string, number>();
    let waiting: { ip: string; done: () => void } | undefined;
    h.dispatcher.on('settled', (e: { ip: string; ok: boolean }) => {
      if (!e.ok) throw new Error(`ban refused: ${JSON.stringify(e)}`);
      const c = (acked.get(e.ip) ?? 0) + 1;
      acked.set(e.ip, c);
      if (waiting && waiting.ip === e.ip && c === n) waiting.done();
    });
    const ipOf = (i: number) => canonicalIp(`2001:db8:${n.toString(16)}:${Math.floor(i / 65536).toString(16)}::${(i % 65536).toString(16)}`)!;
    // Warm up: first use of the action on each session (actioncheck) and the JIT.
    for (let i = 0; i < 10; i++) {
      h.ban('bench', ipOf(100_000 + i));
      await waitFor('warm-up', () => acked.get(ipOf(100_000 + i)) === n, 30_000, 5);
    }
    const lat: number[] = [];
    for (let i = 0; i < BANS; i++) {
      const ip = ipOf(i);
      const t0 = performance.now();
      h.ban('bench', ip);
      await new Promise<void>((resolve) => (waiting = { ip, done: resolve }));
      lat.push(performance.now() - t0);
    }
    lat.sort((a, b) => a - b);

    const classic: number[] = [];
    const hosts = fleet.fleetHosts('shell');
    for (let i = 0; i < CLASSIC; i++) {
      const t0 = performance.now();
      classicSsh(hosts, `ip route add unreachable 198.51.100.${i + 1}`);
      classic.push(performance.now() - t0);
    }
    classic.sort((a, b) => a - b);

    // The floor: the action's command in every namespace at once, no SSH, no ledger.
    const floor: number[] = [];
    for (let i = 0; i < FLOOR; i++) {
      const ip = canonicalIp(`2001:db8:ffff:${n.toString(16)}::${(i + 1).toString(16)}`)!;
      const t0 = performance.now();
      await Promise.all(fleet.hosts.map((host) => inNamespace(host.ns, `ip route add unreachable ${ip}`)));
      floor.push(performance.now() - t0);
    }
    floor.sort((a, b) => a - b);
    const routes = fleet.routes(fleet.hosts[n - 1]!).length;
    rows.push(
      `${String(n).padStart(2)} hosts | fleetban p50 ${fmt(percentile(lat, 50)).padStart(8)}  p99 ${fmt(percentile(lat, 99)).padStart(8)}  (${BANS} bans)` +
        ` | classic ssh per host p50 ${fmt(percentile(classic, 50)).padStart(8)}  p99 ${fmt(percentile(classic, 99)).padStart(8)}  (${CLASSIC} bans)` +
        ` | p50 ratio ${(percentile(classic, 50) / percentile(lat, 50)).toFixed(0)}x` +
        ` | floor (netns exec in parallel) p50 ${fmt(percentile(floor, 50)).padStart(8)}  p99 ${fmt(percentile(floor, 99)).padStart(8)}  (${FLOOR} bans)` +
        ` | fleetban/floor p50 ${(percentile(lat, 50) / percentile(floor, 50)).toFixed(2)}x p99 ${(percentile(lat, 99) / percentile(floor, 99)).toFixed(2)}x` +
        ` | routes on last host ${routes} | load ${machineLoad()}`,
    );
    ratios[`fleet-latency floor/fleetban p50 ${n}h`] = {
      ratio: percentile(floor, 50) / percentile(lat, 50),
      what: `floor p50 (ip netns exec sh -c 'ip route add' in ${n} namespaces in parallel) over fleetban's decision-to-last-ack p50 (route action); goal >= 0.5`,
    };
    ratios[`fleet-latency floor/fleetban p99 ${n}h`] = {
      ratio: percentile(floor, 99) / percentile(lat, 99),
      what: `floor p99 over fleetban's decision-to-last-ack p99 at ${n} hosts; goal >= 0.5`,
    };
    console.log(rows.at(-1));
  } finally {
    await h.stop();
    cleanup();
    await fleet.destroy();
  }
}
console.log('\nban decided -> acknowledged by every host (route action, persistent SSH sessions) vs. a new ssh per host per ban, and the floor');
for (const r of rows) console.log(r);
checkRatios(ratios);
