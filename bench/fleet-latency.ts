/**
 * Ban latency over the fleet: from the ban decision (the failure that
 * crosses maxretry has just been counted) to the ban acknowledged on every
 * host, p50 and p99 over 200 bans, for 1, 5 and 20 namespace hosts, with the
 * route action over the persistent sessions. Beside it, the classic way: a
 * fail2ban action running `ssh host ip route add ...` for each host in turn.
 *
 *   npx tsx bench/fleet-latency.ts [--bans 200] [--classic 20] [--hosts 1,5,20]
 *
 * Needs root (namespaces, sshd). Target (issue 6): p99 under 50 ms at 20 hosts.
 */
import { performance } from 'node:perf_hooks';
import { canonicalIp } from '../src/net/address.js';
import { NetnsFleet, waitFor } from '../test/helpers/netns-fleet.js';
import { allConnected, classicSsh, fmt, harness, percentile, stateDbFile } from './fleet-common.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1]!;
};
const BANS = Number(arg('bans', '200'));
const CLASSIC = Number(arg('classic', '20'));
const SIZES = arg('hosts', '1,5,20').split(',').map(Number);

const rows: string[] = [];
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
    const routes = fleet.routes(fleet.hosts[n - 1]!).length;
    rows.push(
      `${String(n).padStart(2)} hosts | fleetban p50 ${fmt(percentile(lat, 50)).padStart(8)}  p99 ${fmt(percentile(lat, 99)).padStart(8)}  (${BANS} bans)` +
        ` | classic ssh per host p50 ${fmt(percentile(classic, 50)).padStart(8)}  p99 ${fmt(percentile(classic, 99)).padStart(8)}  (${CLASSIC} bans)` +
        ` | p50 ratio ${(percentile(classic, 50) / percentile(lat, 50)).toFixed(0)}x | routes on last host ${routes}`,
    );
    console.log(rows.at(-1));
  } finally {
    await h.stop();
    cleanup();
    await fleet.destroy();
  }
}
console.log('\nban decided -> acknowledged by every host (route action, persistent SSH sessions) vs. a new ssh per host per ban');
for (const r of rows) console.log(r);
