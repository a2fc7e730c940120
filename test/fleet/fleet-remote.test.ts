import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sshArgv } from '../../src/fleet/ssh-command.js';
import { missing } from '../helpers/requirements.js';
import { NetnsFleet, REMOTE_HELPER, type NetnsHost } from '../helpers/netns-fleet.js';
import { FleetHarness, shippedAction } from './harness.js';

const skip = missing('fleetban-remote forced command', {
  root: true,
  commands: ['ip', 'ssh', '/usr/sbin/sshd', 'unshare', 'ssh-keygen', 'ipset', 'nft', 'iptables'],
});

describe.skipIf(skip)('fleetban-remote: a key that can ban and unban, and nothing else', () => {
  let fleet: NetnsFleet;
  let h: FleetHarness | undefined;
  const ALL = ['mx1', 'mx2', 'mx3'];
  const ACTIONS = ['route', 'ipset', 'nftables'] as const;

  beforeAll(async () => {
    // mx1 bans with routes, mx2 with ipset, mx3 with nftables: each server chooses.
    fleet = await NetnsFleet.create({ tag: 'r', block: 12, count: 3, remoteAction: (i) => ACTIONS[i]! });
  });
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });
  afterAll(async () => {
    await fleet?.destroy();
  });

  /** Run ssh with the forced-command key, as someone who stole it would. */
  const asThief = (x: NetnsHost, command: string, input = '') =>
    spawnSync('ssh', sshArgv(fleet.fleetHosts('fleetban-remote').find((f) => f.name === x.name)!, command), {
      input,
      encoding: 'utf8',
      timeout: 15_000,
    });

  /** What each host has banned for a jail, by its own mechanism. */
  const banned = (x: NetnsHost, jail: string): string[] => {
    const out = execFileSync('ip', ['netns', 'exec', x.ns, REMOTE_HELPER, '-c', '/dev/null', '-a', ACTIONS[fleet.hosts.indexOf(x)]!], {
      input: `list ${jail}\n`,
      encoding: 'utf8',
    });
    return out.split('\n').filter((l) => l.startsWith('ip ')).map((l) => l.slice(3)).sort();
  };

  it('runs nothing but the helper, whatever command the client asks for', () => {
    const mx1 = fleet.host('mx1');
    const r = asThief(mx1, 'id; touch /tmp/fbf-remote-pwned', 'id\nsh -c id\n');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('err unknown request (hello, check, ban, unban, list, flush)\n'.repeat(2));
    expect(r.stdout).not.toMatch(/uid=/);
    expect(existsSync('/tmp/fbf-remote-pwned')).toBe(false);
    // No shell through a tty or a forwarding either.
    expect(asThief(mx1, '').stdout).toBe('');
    const fwd = spawnSync(
      'ssh',
      ['-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${fleet.knownHosts}`, '-i', fleet.remoteKey, '-o', 'IdentitiesOnly=yes', '-l', 'fbfleet',
        '-N', '-o', 'ExitOnForwardFailure=yes', '-R', '127.0.0.1:47999:127.0.0.1:22', mx1.address],
      { encoding: 'utf8', timeout: 15_000 },
    );
    expect(fwd.status).toBe(255);
    expect(fwd.stderr).toMatch(/forwarding failed|administratively prohibited/i);
  });

  it('refuses anything but a checked jail name and addresses', () => {
    const mx1 = fleet.host('mx1');
    const requests = [
      'ban mail $(touch /tmp/fbf-remote-pwned)',
      'ban mail `touch /tmp/fbf-remote-pwned`',
      'ban mail 203.0.113.1;touch',
      "ban mail' 203.0.113.1",
      'ban ../etc 203.0.113.1',
      'ban mail 203.0.113.256',
      'ban mail 203.0.113.01',
      'ban mail 2001:db8:::1',
      'ban mail -h',
      'unban mail',
      'flush mail extra',
      'hello',
    ];
    const r = asThief(mx1, 'fleetban-remote', requests.join('\n') + '\n');
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, -1).every((l) => l.startsWith('err '))).toBe(true);
    expect(lines).toHaveLength(requests.length);
    expect(lines.at(-1)).toMatch(/^ok fleetban-remote 1 [0-9a-f-]{36}$/);
    expect(existsSync('/tmp/fbf-remote-pwned')).toBe(false);
    expect(fleet.routes(mx1)).toEqual([]);
  });

  it('bans and unbans through the helper on every host, each with its own local action', async () => {
    // The jail's own action list does not matter to these hosts: the helper decides how.
    h = new FleetHarness(fleet.fleetHosts('fleetban-remote'), { dovecot: [shippedAction('route', 'dovecot')] }).start();
    h.ban('dovecot', '203.0.113.50');
    h.ban('dovecot', '2001:db8::50');
    await h.until('dovecot', '203.0.113.50', ALL, 'applied');
    await h.until('dovecot', '2001:db8::50', ALL, 'applied');
    for (const x of fleet.hosts) expect(banned(x, 'dovecot')).toEqual(['2001:db8::50', '203.0.113.50']);
    expect(fleet.routes(fleet.host('mx1'))).toEqual(['2001:db8::50', '203.0.113.50']);
    expect(fleet.exec(fleet.host('mx2'), 'iptables', '-S', 'INPUT')).toContain('--match-set f2b-dovecot src -j REJECT');
    expect(fleet.exec(fleet.host('mx3'), 'nft', 'list', 'chain', 'inet', 'f2b-table', 'f2b-chain')).toContain('ip saddr @addr-set-dovecot reject');

    h.unban('dovecot', '203.0.113.50');
    h.unban('dovecot', '2001:db8::50');
    await h.gone('dovecot', '203.0.113.50');
    await h.gone('dovecot', '2001:db8::50');
    for (const x of fleet.hosts) expect(banned(x, 'dovecot')).toEqual([]);
  });

  it('batches a burst into few requests', async () => {
    h = new FleetHarness(fleet.fleetHosts('fleetban-remote'), { smtp: [shippedAction('route', 'smtp')] }).start();
    const ips = Array.from({ length: 600 }, (_, i) => `2001:db8:c::${(i + 1).toString(16)}`);
    for (const ip of ips) h.ban('smtp', ip);
    const { waitFor } = await import('../helpers/netns-fleet.js');
    await waitFor('600 bans on 3 hosts', () => h!.settled.filter((e) => e.ok).length === 1800, 30_000);
    for (const x of fleet.hosts) expect(banned(x, 'smtp')).toHaveLength(600);
    for (const ip of ips) h.unban('smtp', ip);
    await waitFor('600 unbans on 3 hosts', () => h!.dispatcher.hosts().every((s) => s.applied === 0 && s.pending === 0), 30_000);
    for (const x of fleet.hosts) expect(banned(x, 'smtp')).toEqual([]);
  });

  it('fails a jail name the helper cannot take, without sending it', async () => {
    h = new FleetHarness(fleet.fleetHosts('fleetban-remote').slice(0, 1), { 'postfix@sasl': [shippedAction('route', 'postfix@sasl')] }).start();
    h.ban('postfix@sasl', '203.0.113.60');
    await h.until('postfix@sasl', '203.0.113.60', ['mx1'], 'failed');
    expect(h.ledger.get({ host: 'mx1', jail: 'postfix@sasl', ip: '203.0.113.60' })!.error).toMatch(/not one fleetban-remote accepts/);
    expect(fleet.routes(fleet.host('mx1'))).toEqual([]);
  });
});
