/**
 * Restart with 100,000 active bans: time from start() until every host is
 * reconciled (connected, its ledger agreeing with the active bans, nothing
 * pending), for 5 hosts with the ipset action, in two cases:
 *  - hosts that lost everything (new hosts, or rebooted): all 100,000 bans
 *    pushed to each;
 *  - a plain restart of fleetban: the ledger says every host has them, so
 *    reconciliation compares and sends nothing.
 * Beside it, what fail2ban does at a restart: every ban removed at stop and
 * added again at start, one action command per ban (its issue #3088), timed
 * here on a sample as one `ipset add` per ban over an open session.
 *
 *   npx tsx bench/fleet-reconcile.ts [--bans 100000] [--hosts 5]
 *
 * Needs root. Target (issue 6): under 10 s.
 */
import { performance } from 'node:perf_hooks';
import type { Ban } from '../src/bans/ban.js';
import type { ReconciledEvent } from '../src/fleet/fleet-dispatcher.js';
import { canonicalIp } from '../src/net/address.js';
import { NetnsFleet, waitFor } from '../test/helpers/netns-fleet.js';
import { fmt, harness, stateDbFile } from './fleet-common.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1]!;
};
const BANS = Number(arg('bans', '100000'));
const HOSTS = Number(arg('hosts', '5'));
const JAIL = 'restart';

const fleet = await NetnsFleet.create({ tag: 'z', block: 22, count: HOSTS });
fleet.cleanupOnSignals();
const { db, cleanup } = stateDbFile();
const now = Date.now();
const active: Ban[] = [];
for (let i = 0; i < BANS; i++) {
  const ip = canonicalIp(`2001:db8:${Math.floor(i / 65536).toString(16)}::${(i % 65536).toString(16)}:1`)!;
  active.push({ jail: JAIL, ip, since: now, until: now + 3_600_000, count: 1, failures: 5, scope: { kind: 'fleet' }, origins: [], fields: {}, matches: [], manual: false });
}
const hosts = fleet.fleetHosts('shell', { timeoutMs: 60_000, connectTimeoutMs: 10_000 });

/**
 * Start a dispatcher on the same state database and time it until every
 * host has reconciled and acknowledged everything it was sent.
 */
async function restart(label: string): Promise<number> {
  const h = harness(hosts, 'ipset', JAIL, db);
  for (const b of active) h.active.set(`${b.jail}\u0000${b.ip}`, b);
  let toSend = 0;
  let reconciled = 0;
  let settled = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  const check = () => {
    if (reconciled === HOSTS && settled === toSend) done();
  };
  h.dispatcher.on('reconciled', (e: ReconciledEvent) => {
    reconciled++;
    toSend += e.outstanding;
    check();
  });
  h.dispatcher.on('settled', (e: { ok: boolean; error?: string }) => {
    if (!e.ok) throw new Error(`${label}: refused: ${e.error}`);
    settled++;
    check();
  });
  const t0 = performance.now();
  h.start();
  await finished;
  const took = performance.now() - t0;
  const s = h.dispatcher.hosts();
  if (!s.every((x) => x.connected && x.pending === 0 && x.failed === 0 && x.applied === BANS)) {
    throw new Error(`${label}: not reconciled: ${JSON.stringify(s)}`);
  }
  await h.stop();
  return took;
}

try {
  const cold = await restart('hosts without bans');
  const counts = fleet.hosts.map((x) => Number(/Number of entries: (\d+)/.exec(fleet.exec(x, 'ipset', 'list', '-t', `f2b-${JAIL}6`))![1]));
  const warm = await restart('plain restart');

  // fail2ban's way, sampled: one ipset command per ban (here even over an open session).
  const sample = 2000;
  const d = harness(hosts.slice(0, 1), 'ipset', 'sample', db);
  const ips = active.slice(0, sample).map((b) => b.ip);
  // Force one command per ban: the ipset action without its batch form.
  for (const a of (d as unknown as { actions: Record<string, { families: Record<string, { banBatch?: unknown }> }[]> }).actions.sample!) {
    delete a.families.inet4!.banBatch;
    delete a.families.inet6!.banBatch;
  }
  d.start();
  await waitFor('sample connected', () => d.dispatcher.hosts().every((x) => x.connected), 30_000);
  let applied = 0;
  let sampled: () => void = () => {};
  const allSampled = new Promise<void>((r) => (sampled = r));
  d.dispatcher.on('settled', () => ++applied === sample && sampled());
  const s0 = performance.now();
  for (const ip of ips) d.ban('sample', ip);
  await allSampled;
  const perBan = (performance.now() - s0) / sample;
  await d.stop();

  console.log(`restart with ${BANS} active bans, ${HOSTS} hosts, ipset action`);
  console.log(`  hosts that lost everything: all ${BANS * HOSTS} bans acknowledged in ${fmt(cold)}; entries per host: ${counts.join(', ')}`);
  console.log(`  plain restart (ledger agrees): every host reconciled in ${fmt(warm)}`);
  console.log(`  fail2ban-style re-adding, one command per ban: ${fmt(perBan)} per ban per host (${sample} sampled) -> ${fmt(perBan * BANS)} per host`);
  console.log(`  ratio (cold restart): ${((perBan * BANS) / cold).toFixed(0)}x`);
} finally {
  cleanup();
  await fleet.destroy();
}
