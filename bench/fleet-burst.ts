/**
 * A burst of 10,000 bans to 5 hosts with the ipset action: time from the
 * first ban decision until every host acknowledged every ban. Bans of a
 * burst go out as `ipset restore` batches over the open sessions. Beside it,
 * the classic way (a new `ssh host ipset add ...` per ban and host), timed on
 * a sample and scaled to the burst.
 *
 *   npx tsx bench/fleet-burst.ts [--bans 10000] [--hosts 5] [--classic 10]
 *
 * Needs root. Target (issue 6): under 2 s.
 */
import { performance } from 'node:perf_hooks';
import { canonicalIp } from '../src/net/address.js';
import { NetnsFleet, waitFor } from '../test/helpers/netns-fleet.js';
import { allConnected, classicSsh, fmt, harness, stateDbFile } from './fleet-common.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1]!;
};
const BANS = Number(arg('bans', '10000'));
const HOSTS = Number(arg('hosts', '5'));
const CLASSIC = Number(arg('classic', '10'));

const ipOf = (i: number) => canonicalIp(`2001:db8:${Math.floor(i / 65536).toString(16)}::${(i % 65536).toString(16)}:1`)!;

const fleet = await NetnsFleet.create({ tag: 'y', block: 21, count: HOSTS });
fleet.cleanupOnSignals();
const { db, cleanup } = stateDbFile();
const h = harness(fleet.fleetHosts('shell', { timeoutMs: 30_000, connectTimeoutMs: 10_000 }), 'ipset', 'burst', db);
try {
  h.start();
  await allConnected(h);
  let ok = 0;
  let last = 0;
  let done: () => void = () => {};
  const all = new Promise<void>((r) => (done = r));
  h.dispatcher.on('settled', (e: { ok: boolean; error?: string }) => {
    if (!e.ok) throw new Error(`ban refused: ${e.error}`);
    if (++ok === BANS * HOSTS) {
      last = performance.now();
      done();
    }
  });
  const t0 = performance.now();
  for (let i = 0; i < BANS; i++) h.ban('burst', ipOf(i));
  const decided = performance.now();
  await all;
  const took = last - t0;
  const counts = fleet.hosts.map((x) => Number(/Number of entries: (\d+)/.exec(fleet.exec(x, 'ipset', 'list', '-t', 'f2b-burst6'))![1]));

  // The classic way, sampled.
  const hosts = fleet.fleetHosts('shell');
  const c0 = performance.now();
  for (let i = 0; i < CLASSIC; i++) classicSsh(hosts, `ipset -exist add f2b-burst6 2001:db8:ffff::${i + 1}`);
  const perBan = (performance.now() - c0) / CLASSIC;

  console.log(`${BANS} bans in one burst to ${HOSTS} hosts, ipset action`);
  console.log(`  fleetban: all ${BANS * HOSTS} acknowledged in ${fmt(took)} (decisions recorded in ${fmt(decided - t0)}); entries per host: ${counts.join(', ')}`);
  console.log(`  classic ssh per ban and host: ${fmt(perBan)} per ban over ${HOSTS} hosts (${CLASSIC} sampled) -> ${fmt(perBan * BANS)} for the burst`);
  console.log(`  ratio: ${((perBan * BANS) / took).toFixed(0)}x`);
  await waitFor('counts', () => counts.every((c) => c === BANS), 1000);
} finally {
  await h.stop();
  cleanup();
  await fleet.destroy();
}
