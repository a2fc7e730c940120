import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readAction } from '../../src/config/action-reader.js';
import { missing } from '../helpers/requirements.js';
import { NetnsFleet, sleep, waitFor } from '../helpers/netns-fleet.js';
import { FleetHarness, shippedAction } from './harness.js';

const skip = missing('fleet over SSH (route)', { root: true, commands: ['ip', 'ssh', '/usr/sbin/sshd', 'unshare', 'ssh-keygen'] });

describe.skipIf(skip)('bans pushed over SSH to three mail servers with the route action', () => {
  let fleet: NetnsFleet;
  let h: FleetHarness | undefined;
  const ALL = ['mx1', 'mx2', 'mx3'];

  beforeAll(async () => {
    fleet = await NetnsFleet.create({ tag: 'a', block: 10, count: 3, groups: (i) => (i === 2 ? ['smtp'] : ['imap']) });
  });
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });
  afterAll(async () => {
    await fleet?.destroy();
  });

  const start = (o: { hosts?: string[]; reconcileIntervalMs?: number } = {}) => {
    const hosts = fleet.fleetHosts('shell').filter((x) => !o.hosts || o.hosts.includes(x.name));
    h = new FleetHarness(hosts, { vpopmail: [shippedAction('route', 'vpopmail')] }, o).start();
    return h;
  };
  const routesEverywhere = () => fleet.hosts.map((x) => [x.name, fleet.routes(x)]);

  it('bans on every host, each acknowledged, and unbans everywhere', async () => {
    const h = start();
    h.ban('vpopmail', '203.0.113.7');
    h.ban('vpopmail', '2001:db8::7');
    await h.until('vpopmail', '203.0.113.7', ALL, 'applied');
    await h.until('vpopmail', '2001:db8::7', ALL, 'applied');
    expect(routesEverywhere()).toEqual(ALL.map((n) => [n, ['2001:db8::7', '203.0.113.7']]));

    h.unban('vpopmail', '203.0.113.7');
    h.unban('vpopmail', '2001:db8::7');
    await h.gone('vpopmail', '203.0.113.7');
    await h.gone('vpopmail', '2001:db8::7');
    expect(routesEverywhere()).toEqual(ALL.map((n) => [n, []]));
    expect(h.dispatcher.hosts().map((s) => [s.name, s.connected, s.pending, s.failed])).toEqual(ALL.map((n) => [n, true, 0, 0]));
  });

  it('sends a ban only to the hosts in its scope', async () => {
    const h = start();
    h.ban('vpopmail', '203.0.113.20', { scope: { kind: 'origin' }, origins: ['mx2'] });
    h.ban('vpopmail', '203.0.113.21', { scope: { kind: 'group', group: 'smtp' } });
    await h.until('vpopmail', '203.0.113.20', ['mx2'], 'applied');
    await h.until('vpopmail', '203.0.113.21', ['mx3'], 'applied');
    expect(routesEverywhere()).toEqual([
      ['mx1', []],
      ['mx2', ['203.0.113.20']],
      ['mx3', ['203.0.113.21']],
    ]);
    expect(h.hostsOf('vpopmail', '203.0.113.20')).toEqual({ mx2: 'applied' });
    h.unban('vpopmail', '203.0.113.20');
    h.unban('vpopmail', '203.0.113.21');
    await h.gone('vpopmail', '203.0.113.20');
    await h.gone('vpopmail', '203.0.113.21');
    expect(routesEverywhere()).toEqual(ALL.map((n) => [n, []]));
  });

  it('bans at once on the hosts that are up, and on a stopped host when its sshd returns', async () => {
    const h = start();
    await waitFor('all connected', () => h.dispatcher.hosts().every((s) => s.connected));
    const mx2 = fleet.host('mx2');
    await fleet.stopSshd(mx2);
    const t0 = Date.now();
    h.ban('vpopmail', '203.0.113.30');
    await h.until('vpopmail', '203.0.113.30', ['mx1', 'mx3'], 'applied');
    // A host that is down does not slow down the others.
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(h.hostsOf('vpopmail', '203.0.113.30').mx2).toBe('pending');
    await waitFor('mx2 reported down', () => {
      const s = h.dispatcher.hosts().find((x) => x.name === 'mx2')!;
      return !s.connected && s.pending === 1 && !!s.lastError;
    });
    expect(fleet.routes(mx2)).toEqual([]);

    await fleet.startSshd(mx2);
    await h.until('vpopmail', '203.0.113.30', ['mx2'], 'applied', 30_000);
    expect(fleet.routes(mx2)).toEqual(['203.0.113.30']);

    h.unban('vpopmail', '203.0.113.30');
    await h.gone('vpopmail', '203.0.113.30');
  });

  it('unbans a host that was down at expiry when it comes back', async () => {
    const h = start();
    h.ban('vpopmail', '203.0.113.31');
    await h.until('vpopmail', '203.0.113.31', ALL, 'applied');
    const mx3 = fleet.host('mx3');
    await fleet.stopSshd(mx3);
    h.unban('vpopmail', '203.0.113.31');
    await waitFor('unbanned on mx1 and mx2', () => fleet.routes(fleet.host('mx1')).length === 0 && fleet.routes(fleet.host('mx2')).length === 0);
    expect(fleet.routes(mx3)).toEqual(['203.0.113.31']);
    expect(h.ledger.get({ host: 'mx3', jail: 'vpopmail', ip: '203.0.113.31' })).toMatchObject({ want: 'unban', status: 'pending' });

    await fleet.startSshd(mx3);
    await h.gone('vpopmail', '203.0.113.31', 30_000);
    expect(fleet.routes(mx3)).toEqual([]);
  });

  it('refuses a host whose key changed, with a clear error, and serves the others', async () => {
    const mx1 = fleet.host('mx1');
    const known = readFileSync(fleet.knownHosts, 'utf8');
    await fleet.changeHostKey(mx1);
    try {
      const h = start();
      h.ban('vpopmail', '203.0.113.40');
      await h.until('vpopmail', '203.0.113.40', ['mx2', 'mx3'], 'applied');
      await waitFor('mx1 refused', () => {
        const s = h.dispatcher.hosts().find((x) => x.name === 'mx1')!;
        return s.lastError?.includes('host key changed') ? true : String(s.lastError);
      });
      const s = h.dispatcher.hosts().find((x) => x.name === 'mx1')!;
      expect(s.connected).toBe(false);
      expect(s.lastError).toMatch(/host key changed: refused/);
      expect(fleet.routes(mx1)).toEqual([]);
      expect(h.hostsOf('vpopmail', '203.0.113.40').mx1).toBe('pending');

      // The administrator checks the new key and puts it in known_hosts: mx1 catches up.
      const pub = readFileSync(`${mx1.hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
      writeFileSync(fleet.knownHosts, known.replace(new RegExp(`^${mx1.address.replace(/\./g, '\\.')} .*$`, 'm'), `${mx1.address} ${pub}`));
      await h.until('vpopmail', '203.0.113.40', ['mx1'], 'applied', 30_000);
      h.unban('vpopmail', '203.0.113.40');
      await h.gone('vpopmail', '203.0.113.40');
    } finally {
      const pub = readFileSync(`${mx1.hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
      writeFileSync(fleet.knownHosts, known.replace(new RegExp(`^${mx1.address.replace(/\./g, '\\.')} .*$`, 'm'), `${mx1.address} ${pub}`));
    }
  });

  it('times out commands to a hung host, serves the others, and retries until it answers', async () => {
    const h = start();
    await waitFor('all connected', () => h.dispatcher.hosts().every((s) => s.connected));
    const mx2 = fleet.host('mx2');
    fleet.freeze(mx2);
    try {
      const t0 = Date.now();
      h.ban('vpopmail', '203.0.113.50');
      await h.until('vpopmail', '203.0.113.50', ['mx1', 'mx3'], 'applied');
      expect(Date.now() - t0).toBeLessThan(1000);
      // The host's timeout is 3 s: the session is given up and the ban stays pending, tried again.
      await waitFor('mx2 timed out', () => {
        const s = h.dispatcher.hosts().find((x) => x.name === 'mx2')!;
        return s.lastError?.includes('no answer within') ? true : String(s.lastError);
      });
      const row = h.ledger.get({ host: 'mx2', jail: 'vpopmail', ip: '203.0.113.50' })!;
      expect(row.status).toBe('pending');
      expect(row.attempts).toBeGreaterThanOrEqual(1);
      expect(row.error).toMatch(/no answer within 3 s/);
    } finally {
      fleet.thaw(mx2);
    }
    await h.until('vpopmail', '203.0.113.50', ['mx2'], 'applied', 40_000);
    expect(fleet.routes(mx2)).toEqual(['203.0.113.50']);
    h.unban('vpopmail', '203.0.113.50');
    await h.gone('vpopmail', '203.0.113.50');
  });

  it('gives a host added on reload every active ban in its scope, and leaves a removed host as it is', async () => {
    const h = start({ hosts: ['mx1', 'mx2'] });
    h.ban('vpopmail', '203.0.113.60');
    h.ban('vpopmail', '203.0.113.61', { scope: { kind: 'group', group: 'smtp' } });
    await h.until('vpopmail', '203.0.113.60', ['mx1', 'mx2'], 'applied');
    expect(fleet.routes(fleet.host('mx3'))).toEqual([]);

    h.dispatcher.reload(fleet.fleetHosts('shell').filter((x) => x.name !== 'mx1'));
    await h.until('vpopmail', '203.0.113.60', ['mx3'], 'applied');
    await h.until('vpopmail', '203.0.113.61', ['mx3'], 'applied');
    expect(fleet.routes(fleet.host('mx3'))).toEqual(['203.0.113.60', '203.0.113.61']);
    expect(h.dispatcher.hosts().map((s) => s.name)).toEqual(['mx2', 'mx3']);

    h.unban('vpopmail', '203.0.113.60');
    h.unban('vpopmail', '203.0.113.61');
    await waitFor('unbanned on mx2, mx3', () => fleet.routes(fleet.host('mx2')).length + fleet.routes(fleet.host('mx3')).length === 0);
    // mx1 left the fleet: its ban stays, as fleetban says in its log.
    expect(fleet.routes(fleet.host('mx1'))).toEqual(['203.0.113.60']);
    fleet.exec(fleet.host('mx1'), 'ip', 'route', 'del', 'unreachable', '203.0.113.60');
  });

  it('keeps bans in place when fleetban stops, and does not send them again at the next start', async () => {
    const db = (await import('./harness.js')).openStateDb();
    let first: FleetHarness | undefined = new FleetHarness(fleet.fleetHosts('shell'), { vpopmail: [shippedAction('route', 'vpopmail')] }, { db }).start();
    first.ban('vpopmail', '203.0.113.70');
    await first.until('vpopmail', '203.0.113.70', ALL, 'applied');
    await first.stop();
    expect(routesEverywhere()).toEqual(ALL.map((n) => [n, ['203.0.113.70']]));

    h = new FleetHarness(fleet.fleetHosts('shell'), { vpopmail: [shippedAction('route', 'vpopmail')] }, { db });
    for (const [k, v] of first.active) h.active.set(k, v);
    first = undefined;
    h.start();
    await waitFor('all connected', () => h!.dispatcher.hosts().every((s) => s.connected));
    await sleep(200);
    expect(h.settled).toEqual([]);
    h.unban('vpopmail', '203.0.113.70');
    await h.gone('vpopmail', '203.0.113.70');
    expect(routesEverywhere()).toEqual(ALL.map((n) => [n, []]));
  });

  it('sends a rebooted host its bans again: the boot id changed since the last session', async () => {
    const db = (await import('./harness.js')).openStateDb();
    const first = new FleetHarness(fleet.fleetHosts('shell'), { vpopmail: [shippedAction('route', 'vpopmail')] }, { db }).start();
    first.ban('vpopmail', '203.0.113.80');
    await first.until('vpopmail', '203.0.113.80', ALL, 'applied');
    await first.stop();
    // mx2 rebooted while fleetban was away: its routes are gone, its boot id is new.
    const mx2 = fleet.host('mx2');
    fleet.exec(mx2, 'ip', 'route', 'del', 'unreachable', '203.0.113.80');
    db.prepare("UPDATE fleet_host SET boot_id = 'before-the-reboot' WHERE host = 'mx2'").run();

    h = new FleetHarness(fleet.fleetHosts('shell'), { vpopmail: [shippedAction('route', 'vpopmail')] }, { db });
    for (const [k, v] of first.active) h.active.set(k, v);
    h.start();
    await waitFor('mx2 has its route again', () => fleet.routes(mx2).join() === '203.0.113.80');
    await h.until('vpopmail', '203.0.113.80', ALL, 'applied');
    // Only the rebooted host was sent anything.
    expect(h.settled.map((e) => e.host)).toEqual(['mx2']);
    h.unban('vpopmail', '203.0.113.80');
    await h.gone('vpopmail', '203.0.113.80');
  });

  it('retries a refused ban at the next reconciliation', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fbf-retry-'));
    try {
      const ready = join(dir, 'ready');
      writeFileSync(
        join(dir, 'picky.conf'),
        `[Definition]\nactionban = test -e ${ready} || { echo 'not ready yet' >&2; exit 3; }; ip route replace unreachable <ip>\nactionunban = ip route del unreachable <ip>\n`,
      );
      h = new FleetHarness(fleet.fleetHosts('shell').slice(0, 1), { vpopmail: [readAction(dir, { name: 'picky', params: {} }, 'vpopmail')] }).start();
      h.ban('vpopmail', '203.0.113.90');
      await h.until('vpopmail', '203.0.113.90', ['mx1'], 'failed');
      expect(h.ledger.get({ host: 'mx1', jail: 'vpopmail', ip: '203.0.113.90' })).toMatchObject({ error: 'not ready yet', attempts: 1 });
      expect(h.dispatcher.hosts()[0]).toMatchObject({ failed: 1, lastError: 'ban vpopmail 203.0.113.90: not ready yet' });
      writeFileSync(ready, '');
      h.dispatcher.reconcileAll();
      await h.until('vpopmail', '203.0.113.90', ['mx1'], 'applied');
      expect(fleet.routes(fleet.host('mx1'))).toEqual(['203.0.113.90']);
      h.unban('vpopmail', '203.0.113.90');
      await h.gone('vpopmail', '203.0.113.90');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives up on a command that hangs after three tries, and keeps serving the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fbf-hang-'));
    try {
      writeFileSync(
        join(dir, 'hangs.conf'),
        '[Definition]\nactionban = if [ <ip> = 203.0.113.99 ]; then sleep 30; fi; ip route replace unreachable <ip>\nactionunban = ip route del unreachable <ip>\n',
      );
      const hosts = fleet.fleetHosts('shell', { timeoutMs: 1000 }).slice(0, 1);
      h = new FleetHarness(hosts, { vpopmail: [readAction(dir, { name: 'hangs', params: {} }, 'vpopmail')] }).start();
      h.ban('vpopmail', '203.0.113.99');
      await h.until('vpopmail', '203.0.113.99', ['mx1'], 'failed', 30_000);
      expect(h.ledger.get({ host: 'mx1', jail: 'vpopmail', ip: '203.0.113.99' })).toMatchObject({ attempts: 3, error: expect.stringMatching(/^no answer within 1 s/) });
      // The session is back and serves other bans; the hung one waits for the next reconciliation.
      h.ban('vpopmail', '203.0.113.98');
      await h.until('vpopmail', '203.0.113.98', ['mx1'], 'applied', 30_000);
      expect(h.hostsOf('vpopmail', '203.0.113.99')).toEqual({ mx1: 'failed' });
      h.unban('vpopmail', '203.0.113.98');
      await h.gone('vpopmail', '203.0.113.98');
    } finally {
      rmSync(dir, { recursive: true, force: true });
      fleet.killInside(fleet.host('mx1'), 'sleep');
      fleet.exec(fleet.host('mx1'), 'ip', 'route', 'flush', 'type', 'unreachable');
    }
  });

  it('notices a dead link while idle (ServerAliveInterval) and reconnects when it is back', async () => {
    const h = start();
    await waitFor('all connected', () => h.dispatcher.hosts().every((s) => s.connected));
    const mx3 = fleet.host('mx3');
    fleet.freeze(mx3);
    try {
      // alive_interval 2 s, three probes unanswered: down within about 6 s, with nothing sent.
      await waitFor('mx3 seen down', () => !h.dispatcher.hosts().find((s) => s.name === 'mx3')!.connected, 20_000);
      expect(h.dispatcher.hosts().filter((s) => s.connected).map((s) => s.name)).toEqual(['mx1', 'mx2']);
    } finally {
      fleet.thaw(mx3);
    }
    await waitFor('mx3 back', () => h.dispatcher.hosts().every((s) => s.connected), 30_000);
  });

  it('passes log text to the shell as data: hostile user names reach the action as plain words', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fbf-hostile-'));
    try {
      const log = join(dir, 'users.log');
      const pwned = join(dir, 'pwned');
      writeFileSync(
        join(dir, 'note-user.conf'),
        [
          '[Definition]',
          // The same tag bare, as a double-quoted word and inside one (single quotes are refused).
          `actionban = printf '%%s|%%s|%%s\\n' <F-USER> "<F-USER>" "x<F-USER>y" >> ${log}`,
          `actionunban = true`,
          '',
        ].join('\n'),
      );
      const action = readAction(dir, { name: 'note-user', params: {} }, 'vpopmail');
      h = new FleetHarness(fleet.fleetHosts('shell').slice(0, 1), { vpopmail: [action] }).start();
      const hostile = [
        `$(touch ${pwned})`,
        `\`touch ${pwned}\``,
        `'; touch ${pwned}; '`,
        `"; touch ${pwned}; "`,
        `a\ntouch ${pwned}\n`,
        `x;touch ${pwned}`,
        `\\'\\"\${HOME}|&>`,
      ];
      hostile.forEach((user, i) => h!.ban('vpopmail', `203.0.113.${100 + i}`, { fields: { user } }));
      for (let i = 0; i < hostile.length; i++) await h.until('vpopmail', `203.0.113.${100 + i}`, ['mx1'], 'applied');
      expect(existsSync(pwned)).toBe(false);
      expect(readFileSync(log, 'utf8')).toBe(hostile.map((u) => `${u}|${u}|x${u}y\n`).join(''));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
