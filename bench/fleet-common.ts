import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readAction } from '../src/config/action-reader.js';
import type { FleetHost } from '../src/config/fleet-reader.js';
import { sshArgv } from '../src/fleet/ssh-command.js';
import { FleetHarness, openStateDb, shippedAction } from '../test/fleet/harness.js';
import { waitFor } from '../test/helpers/netns-fleet.js';

/** The state database as the service opens it: a file, WAL, synchronous=NORMAL. */
export function stateDbFile(): { db: ReturnType<typeof openStateDb>; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'fbf-bench-'));
  const db = openStateDb(join(dir, 'state.db'));
  db.pragma('synchronous = NORMAL');
  return { db, cleanup: () => (db.close(), rmSync(dir, { recursive: true, force: true })) };
}

/** A dispatcher with a shipped action; FLEET_BENCH_ACTION_DIR points at other action files (to isolate costs). */
export function harness(hosts: FleetHost[], action: string, jail: string, db: ReturnType<typeof openStateDb>): FleetHarness {
  const dir = process.env.FLEET_BENCH_ACTION_DIR;
  const spec = dir ? readAction(dir, { name: process.env.FLEET_BENCH_ACTION ?? action, params: {} }, jail) : shippedAction(action, jail);
  return new FleetHarness(hosts, { [jail]: [spec] }, { db });
}

export async function allConnected(h: FleetHarness, ms = 60_000): Promise<void> {
  await waitFor('all hosts connected', () => h.dispatcher.hosts().every((s) => s.connected), ms, 10);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)]!;
}

export function fmt(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

/**
 * The classic way, as a fail2ban action does it: for each host in turn, a
 * new `ssh host COMMAND` (a new connection, key exchange and login each time).
 */
export function classicSsh(hosts: FleetHost[], command: string): void {
  for (const host of hosts) {
    const r = spawnSync('ssh', sshArgv(host, command), { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`ssh ${host.name} ${command}: ${r.stderr}`);
  }
}
