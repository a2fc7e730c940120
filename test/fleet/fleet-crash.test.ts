import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../helpers/requirements.js';
import { NetnsFleet, sleep } from '../helpers/netns-fleet.js';
import { ACTION_DIR, FleetHarness, openStateDb, shippedAction } from './harness.js';

const skip = missing('fleet crash recovery', { root: true, commands: ['ip', 'ssh', '/usr/sbin/sshd', 'unshare', 'ssh-keygen'] });

describe.skipIf(skip)('fleetban killed between recording a ban and its acknowledgement', () => {
  let fleet: NetnsFleet;
  let dir: string;
  const ALL = ['mx1', 'mx2', 'mx3'];
  const JAIL = 'vpopmail';

  beforeAll(async () => {
    fleet = await NetnsFleet.create({ tag: 'k', block: 13, count: 3 });
    dir = mkdtempSync(join(tmpdir(), 'fbf-crash-'));
    // The route action, slowed down so that SIGKILL lands while commands are on their way.
    writeFileSync(
      join(dir, 'slow-route.conf'),
      [
        '[INCLUDES]',
        `before = ${join(ACTION_DIR, 'route.conf')}`,
        '[Definition]',
        'actionban = sleep 0.3; <iproute> route replace <blocktype> <ip>',
        'actionunban = sleep 0.3; <iproute> route del <blocktype> <ip> 2>/dev/null || ! <iproute> route show type <blocktype> exact <ip> | grep -q .',
        'actionban_batch =',
        'actionban_batchline =',
        'actionunban_batch =',
        'actionunban_batchline =',
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await fleet?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Run a dispatcher in a child process until its rows are recorded, then SIGKILL it. */
  async function recordAndKill(input: { active: string[]; ban: string[]; unban: string[] }): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'crash-child.ts')], {
      env: {
        ...process.env,
        FLEET_CHILD: JSON.stringify({ db: join(dir, 'state.db'), hosts: fleet.fleetHosts('shell'), actionDir: dir, action: 'slow-route', jail: JAIL, ...input }),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('RECORDED')) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', (code, sig) => (sig === 'SIGKILL' ? resolve() : reject(new Error(`child exited ${code}: ${out}`))));
    });
    await new Promise((r) => child.once('exit', r).once('close', r));
  }

  it('converges on every host after a restart, with nothing failed', async () => {
    const ips = ['203.0.113.1', '203.0.113.2', '203.0.113.3', '2001:db8::3', '198.51.100.4'];
    // Crash 1: bans recorded, some perhaps carried out, none acknowledged.
    await recordAndKill({ active: [], ban: ips, unban: [] });
    const db = openStateDb(join(dir, 'state.db'));
    const statuses = db.prepare('SELECT status, count(*) AS n FROM ledger GROUP BY status').all();
    expect(statuses).toEqual([{ status: 'pending', n: 15 }]);
    // Commands that were running outlive the client: the hosts carried them
    // out, the ledger never heard. The restart must send them again harmlessly.
    await sleep(700);
    expect(fleet.hosts.some((x) => fleet.routes(x).length > 0)).toBe(true);

    // Crash 2, after a restart that had no time to finish: two of them expire.
    await recordAndKill({ active: ips.slice(2), ban: [], unban: ips.slice(0, 2) });

    // Restart for good, with the shipped route action.
    const h = new FleetHarness(fleet.fleetHosts('shell'), { [JAIL]: [shippedAction('route', JAIL)] }, { db });
    for (const ip of ips.slice(2)) {
      const now = Date.now();
      h.active.set(`${JAIL}\u0000${ip}`, { jail: JAIL, ip, since: now, until: now + 600_000, count: 1, failures: 5, scope: { kind: 'fleet' }, origins: [], fields: {}, matches: [], manual: false });
    }
    h.start();
    try {
      for (const ip of ips.slice(2)) await h.until(JAIL, ip, ALL, 'applied');
      for (const ip of ips.slice(0, 2)) await h.gone(JAIL, ip);
      for (const x of fleet.hosts) expect(fleet.routes(x)).toEqual(['198.51.100.4', '2001:db8::3', '203.0.113.3'].sort());
      // Every command sent again succeeded: a ban applied twice is not an error.
      expect(db.prepare("SELECT count(*) AS n FROM ledger WHERE status != 'applied' OR error IS NOT NULL").get()).toEqual({ n: 0 });
      expect(h.settled.every((e) => e.ok)).toBe(true);
    } finally {
      await h.stop();
    }
  });
});
