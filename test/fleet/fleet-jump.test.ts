import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../helpers/requirements.js';
import { NetnsFleet, waitFor, type NetnsHost } from '../helpers/netns-fleet.js';
import { FleetHarness, shippedAction } from './harness.js';

const skip = missing('fleet through a jump host', { root: true, commands: ['ip', 'ssh', '/usr/sbin/sshd', 'unshare', 'ssh-keygen'] });

/**
 * A mail server on an inner network: only the bastion (mx1) has a link to it,
 * the central host has no route there, so every ban must go through the jump.
 */
describe.skipIf(skip)('a mail server reached through a jump host', () => {
  let fleet: NetnsFleet;
  let bastion: NetnsHost;
  let inner: NetnsHost;
  const INNER_ADDRESS = '198.18.14.254';
  let innerSshd: number | undefined;

  beforeAll(async () => {
    fleet = await NetnsFleet.create({ tag: 'j', block: 14, count: 2 });
    [bastion, inner] = fleet.hosts as [NetnsHost, NetnsHost];
    execFileSync('ip', ['link', 'add', 'fbfjb', 'netns', bastion.ns, 'type', 'veth', 'peer', 'name', 'fbfji', 'netns', inner.ns]);
    execFileSync('ip', ['-n', bastion.ns, 'addr', 'add', '198.18.14.253/30', 'dev', 'fbfjb']);
    execFileSync('ip', ['-n', inner.ns, 'addr', 'add', `${INNER_ADDRESS}/30`, 'dev', 'fbfji']);
    execFileSync('ip', ['-n', bastion.ns, 'link', 'set', 'fbfjb', 'up']);
    execFileSync('ip', ['-n', inner.ns, 'link', 'set', 'fbfji', 'up']);
    // A second sshd on the inner host, listening on the inner link only.
    const config = `${inner.sshdConfig}.inner`;
    writeFileSync(config, readFileSync(inner.sshdConfig, 'utf8').replace(/^ListenAddress .*$/m, `ListenAddress ${INNER_ADDRESS}:22`));
    const child = spawn('ip', ['netns', 'exec', inner.ns, '/usr/sbin/sshd', '-D', '-E', `${config}.log`, '-f', config], { stdio: 'ignore' });
    child.unref();
    innerSshd = child.pid;
    const hostKey = readFileSync(`${inner.hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
    appendFileSync(fleet.knownHosts, `${INNER_ADDRESS} ${hostKey}\n`);
    await waitFor('inner sshd listening', () => fleet.exec(inner, 'ss', '-Hltn').includes(`${INNER_ADDRESS}:22`), 10_000);
  });
  afterAll(async () => {
    if (innerSshd) {
      try {
        process.kill(innerSshd, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await fleet?.destroy();
  });

  it('bans on the inner host through the bastion, with the same strict host key checks', async () => {
    const [bastionHost] = fleet.fleetHosts('shell');
    const innerHost = { ...bastionHost!, name: 'inner', address: INNER_ADDRESS, jump: `fbfleet@${bastion.address}` };
    const h = new FleetHarness([innerHost], { vpopmail: [shippedAction('route', 'vpopmail')] }).start();
    try {
      h.ban('vpopmail', '203.0.113.33');
      await h.until('vpopmail', '203.0.113.33', ['inner'], 'applied');
      expect(fleet.routes(inner)).toEqual(['203.0.113.33']);
      expect(fleet.routes(bastion)).toEqual([]);
      h.unban('vpopmail', '203.0.113.33');
      await h.gone('vpopmail', '203.0.113.33');
      expect(fleet.routes(inner)).toEqual([]);
    } finally {
      await h.stop();
    }
    // The bastion's own key is checked against the same known_hosts: unknown, refused.
    const onlyInner = `${fleet.knownHosts}.inner-only`;
    writeFileSync(onlyInner, readFileSync(fleet.knownHosts, 'utf8').split('\n').filter((l) => l.startsWith(`${INNER_ADDRESS} `)).join('\n') + '\n');
    const strict = new FleetHarness([{ ...innerHost, knownHosts: onlyInner }], { vpopmail: [shippedAction('route', 'vpopmail')] }).start();
    try {
      await waitFor('bastion key refused', () => !!strict.dispatcher.hosts()[0]!.lastError);
      expect(strict.dispatcher.hosts()[0]).toMatchObject({ connected: false, lastError: expect.stringMatching(/host key not in known_hosts: refused/) });
    } finally {
      await strict.stop();
    }
    // Without the jump there is no way in.
    const direct = new FleetHarness([{ ...bastionHost!, name: 'inner', address: INNER_ADDRESS, connectTimeoutMs: 1000 }], { vpopmail: [shippedAction('route', 'vpopmail')] }).start();
    try {
      await waitFor('direct attempt fails', () => !!direct.dispatcher.hosts()[0]!.lastError);
      expect(direct.dispatcher.hosts()[0]!.connected).toBe(false);
    } finally {
      await direct.stop();
    }
  });
});
