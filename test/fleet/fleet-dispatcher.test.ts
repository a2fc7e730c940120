import { describe, expect, it } from 'vitest';
import type { FleetHost } from '../../src/config/fleet-reader.js';
import { isBanTarget } from '../../src/fleet/ban-target.js';
import { FleetHarness, shippedAction } from './harness.js';

/** Hosts nobody answers for: these tests never get as far as a connection. */
const hosts: FleetHost[] = ['mx1', 'mx2', 'mx3'].map((name, i) => ({
  name,
  address: `198.18.250.${4 * i + 2}`,
  port: 22,
  user: 'root',
  groups: i === 0 ? ['imap'] : [],
  driver: 'shell',
  timeoutMs: 1000,
  connectTimeoutMs: 1000,
  aliveIntervalS: 1,
}));

const tick = () => new Promise((r) => setImmediate(r));

describe('the fleet dispatcher, before any host answers', () => {
  it('records a ban as pending for every host in scope before anything is sent', async () => {
    const h = new FleetHarness(hosts, { vpopmail: [shippedAction('route', 'vpopmail')] });
    h.ban('vpopmail', '203.0.113.5');
    h.ban('vpopmail', '203.0.113.6', { scope: { kind: 'group', group: 'imap' } });
    h.ban('vpopmail', '203.0.113.7', { scope: { kind: 'origin' }, origins: ['mx3', 'elsewhere'] });
    await tick();
    expect(h.hostsOf('vpopmail', '203.0.113.5')).toEqual({ mx1: 'pending', mx2: 'pending', mx3: 'pending' });
    expect(h.hostsOf('vpopmail', '203.0.113.6')).toEqual({ mx1: 'pending' });
    expect(h.hostsOf('vpopmail', '203.0.113.7')).toEqual({ mx3: 'pending' });
    await h.stop();
  });

  it('sends nothing for a value that is not a canonical address or network', async () => {
    const h = new FleetHarness(hosts, { vpopmail: [shippedAction('route', 'vpopmail')] });
    for (const ip of ['203.0.113.05', '2001:DB8::1', '203.0.113.5; reboot', '$(reboot)', '2001:db8::1/64', '']) h.ban('vpopmail', ip);
    h.unban('vpopmail', '1.2.3.4 5.6.7.8');
    await tick();
    expect(h.db.prepare('SELECT count(*) AS n FROM ledger').get()).toEqual({ n: 0 });
    expect(isBanTarget('2001:db8::/64')).toBe(true);
    expect(isBanTarget('203.0.113.0/24')).toBe(true);
    expect(isBanTarget('::ffff:203.0.113.5')).toBe(false);
    await h.stop();
  });

  it('logs and settles dry-run bans without a host', async () => {
    const h = new FleetHarness(hosts, { vpopmail: [shippedAction('dry-run', 'vpopmail')] });
    h.ban('vpopmail', '203.0.113.8');
    await tick();
    expect(h.hostsOf('vpopmail', '203.0.113.8')).toEqual({ mx1: 'applied', mx2: 'applied', mx3: 'applied' });
    h.unban('vpopmail', '203.0.113.8');
    await tick();
    expect(h.hostsOf('vpopmail', '203.0.113.8')).toEqual({});
    expect(h.settled.map((e) => [e.host, e.want, e.ok])).toEqual([
      ['mx1', 'ban', true],
      ['mx2', 'ban', true],
      ['mx3', 'ban', true],
      ['mx1', 'unban', true],
      ['mx2', 'unban', true],
      ['mx3', 'unban', true],
    ]);
    await h.stop();
  });

  it('ignores jails without actions', async () => {
    const h = new FleetHarness(hosts, {});
    h.ban('noaction', '203.0.113.9');
    await tick();
    expect(h.hostsOf('noaction', '203.0.113.9')).toEqual({});
    await h.stop();
  });
});
