import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { Ban } from '../../src/bans/ban.js';
import { JailError } from '../../src/jails/jail-error.js';
import { CidrSet } from '../../src/net/cidr-set.js';
import type { JailStatus } from '../../src/jails/jail-status.js';
import { jails, setup } from './helpers.js';
import { waitFor } from '../helpers/wait.js';

const VPOPMAIL = `
[DEFAULT]
maxretry = 3
findtime = 10m
bantime = 1h

[vpopmail]
enabled = true
`;

describe('the failure window: maxretry failures within findtime, by event time', () => {
  it('bans at exactly maxretry failures spanning exactly findtime', () => {
    const { fail, clock, listener } = setup(VPOPMAIL);
    fail('vpopmail', '203.0.113.7');
    clock.advance(300);
    fail('vpopmail', '203.0.113.7');
    clock.advance(300);
    expect(listener.bans).toHaveLength(0);
    fail('vpopmail', '203.0.113.7');
    expect(listener.bans).toHaveLength(1);
    expect(listener.bans[0]).toMatchObject({ jail: 'vpopmail', ip: '203.0.113.7', failures: 3, count: 1, manual: false });
    expect(listener.bans[0]!.until! - listener.bans[0]!.since).toBe(3600_000);
  });

  it('does not ban when the span is a millisecond more than findtime', () => {
    const { fail, clock, listener } = setup(VPOPMAIL);
    fail('vpopmail', '203.0.113.7');
    clock.advance(300);
    fail('vpopmail', '203.0.113.7');
    clock.advance(300.001);
    fail('vpopmail', '203.0.113.7');
    expect(listener.bans).toHaveLength(0);
    // The window slides: the two latest and one more within findtime of them do ban.
    clock.advance(1);
    fail('vpopmail', '203.0.113.7');
    expect(listener.bans).toHaveLength(1);
  });

  it('does not ban on maxretry - 1 failures', () => {
    const { fail, listener, manager } = setup(VPOPMAIL);
    fail('vpopmail', '203.0.113.7');
    fail('vpopmail', '203.0.113.7');
    expect(listener.bans).toHaveLength(0);
    expect(manager.status('vpopmail')).toMatchObject({ currentlyFailed: 1, totalFailed: 2 });
  });

  it('counts by the stamp in the line, not by arrival: a delayed batch of old failures still bans', () => {
    const { fail, clock, listener } = setup(VPOPMAIL);
    clock.advance(500);
    // Three lines written 0 s, 200 s and 400 s ago arrive together.
    fail('vpopmail', '198.51.100.9', 'mx1', clock.t - 400_000);
    fail('vpopmail', '198.51.100.9', 'mx1', clock.t - 200_000);
    expect(listener.bans).toHaveLength(0);
    fail('vpopmail', '198.51.100.9', 'mx1', clock.t);
    expect(listener.bans).toHaveLength(1);
  });

  it('lines arriving out of order are placed by their stamps', () => {
    const { fail, clock, listener } = setup(VPOPMAIL.replace('findtime = 10m', 'findtime = 1h'));
    clock.advance(3600);
    fail('vpopmail', '198.51.100.9', 'mx1', clock.t - 1000_000);
    fail('vpopmail', '198.51.100.9', 'mx1', clock.t - 3500_000);
    expect(listener.bans).toHaveLength(0);
    fail('vpopmail', '198.51.100.9', 'mx1', clock.t - 3599_000);
    expect(listener.bans).toHaveLength(1);
  });
});

describe('forged and replayed stamps are counted at arrival time', () => {
  it('a line stamped a year ahead cannot keep failures alive, nor one stamped long ago escape', () => {
    const { fail, clock, listener, manager } = setup(VPOPMAIL);
    const year = 365 * 86400_000;
    // An attacker writes stamps far in the future, hoping to be counted "later" forever, or in the past.
    fail('vpopmail', '203.0.113.50', 'mx1', clock.t + year);
    fail('vpopmail', '203.0.113.50', 'mx1', clock.t - year);
    fail('vpopmail', '203.0.113.50', 'mx1', clock.t + year);
    expect(listener.bans).toHaveLength(1);
    expect((manager.status('vpopmail') as JailStatus).forged).toBe(3);
  });

  it('a small clock skew between hosts is not forgery', () => {
    const { fail, clock, manager } = setup(VPOPMAIL);
    fail('vpopmail', '203.0.113.50', 'mx1', clock.t + 5_000);
    expect((manager.status('vpopmail') as JailStatus).forged).toBe(0);
  });
});

describe('fleet-wide counting', () => {
  it('3 failures from 3 different mail servers ban when maxretry is 3, everywhere', () => {
    const { fail, listener } = setup(VPOPMAIL);
    fail('vpopmail', '203.0.113.7', 'mx1');
    fail('vpopmail', '203.0.113.7', 'mx2');
    fail('vpopmail', '203.0.113.7', 'mx3');
    expect(listener.bans).toHaveLength(1);
    expect(listener.bans[0]!.scope).toEqual({ kind: 'fleet' });
    expect(listener.bans[0]!.origins.sort()).toEqual(['mx1', 'mx2', 'mx3']);
  });

  it('scope = origin bans on the servers the failures came from', () => {
    const { fail, listener } = setup(VPOPMAIL + 'scope = origin\n');
    fail('vpopmail', '203.0.113.7', 'mx2');
    fail('vpopmail', '203.0.113.7', 'mx5');
    fail('vpopmail', '203.0.113.7', 'mx2');
    expect(listener.bans[0]).toMatchObject({ scope: { kind: 'origin' } });
    expect(listener.bans[0]!.origins.sort()).toEqual(['mx2', 'mx5']);
  });

  it('scope = group:NAME is carried with the ban', () => {
    const { fail, listener } = setup(VPOPMAIL + 'scope = group:imap\n');
    for (let i = 0; i < 3; i++) fail('vpopmail', '203.0.113.7');
    expect(listener.bans[0]!.scope).toEqual({ kind: 'group', group: 'imap' });
  });

  it('jails count separately', () => {
    const { fail, listener } = setup(VPOPMAIL + '[courier-auth]\nenabled = true\n');
    fail('vpopmail', '203.0.113.7');
    fail('courier-auth', '203.0.113.7');
    fail('vpopmail', '203.0.113.7');
    expect(listener.bans).toHaveLength(0);
  });
});

describe('never banned: ignoreip, loopback, the fleet itself', () => {
  const IGNORING = VPOPMAIL + 'ignoreip = 127.0.0.1/8 ::1 198.51.100.0/24 2001:db8:beef::/48 office.example\n';

  it.each([
    ['an ignoreip IPv4 network', '198.51.100.77'],
    ['an ignoreip IPv6 network', '2001:db8:beef:1::9'],
    ['loopback', '127.0.0.2'],
    ['an ignoreip name, resolved at load', '203.0.113.99'],
    ['a fleet host (never-ban list)', '198.18.0.2'],
  ])('%s: its failures are counted as ignored', async (_what, ip) => {
    const { fail, listener, manager } = setup(IGNORING, {
      neverBan: ['198.18.0.0/15'],
      resolver: async (name) => (name === 'office.example' ? ['203.0.113.99'] : []),
    });
    await manager.resolveIgnoreNames();
    for (let i = 0; i < 5; i++) fail('vpopmail', ip);
    expect(listener.bans).toHaveLength(0);
    expect(manager.status('vpopmail')).toMatchObject({ ignored: 5, totalFailed: 0, currentlyFailed: 0 });
  });

  it('addresses next to the ignored networks are banned', () => {
    const { fail, listener } = setup(IGNORING);
    for (let i = 0; i < 3; i++) fail('vpopmail', '198.51.101.1');
    for (let i = 0; i < 3; i++) fail('vpopmail', '2001:db8:bef0::1');
    expect(listener.bans.map((b) => b.ip)).toEqual(['198.51.101.1', '2001:db8:bef0::1']);
  });

  it('ignoreself: the central host\'s own addresses are not banned', () => {
    const own = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && !i.internal && i.family === 'IPv4')?.address;
    if (!own) return; // a host without a non-loopback address has nothing to test here
    const self = setup(VPOPMAIL + 'ignoreself = true\n');
    for (let i = 0; i < 3; i++) self.fail('vpopmail', own);
    expect(self.listener.bans).toHaveLength(0);
    const notSelf = setup(VPOPMAIL + 'ignoreself = false\n');
    for (let i = 0; i < 3; i++) notSelf.fail('vpopmail', own);
    expect(notSelf.listener.bans).toHaveLength(1);
  });

  it('a manual ban of a fleet host or loopback is refused', () => {
    const { manager } = setup(VPOPMAIL, { neverBan: ['198.18.0.0/15'] });
    expect(() => manager.ban('vpopmail', '198.18.0.2')).toThrow(JailError);
    expect(() => manager.ban('vpopmail', '::1')).toThrow(/never banned/);
  });

  it('ignorecommand: exit status 0 ignores the address, 1 bans it', async () => {
    const { fail, listener, manager } = setup(VPOPMAIL + 'ignorecommand = test <ip> = 203.0.113.1\n');
    for (let i = 0; i < 3; i++) fail('vpopmail', '203.0.113.1');
    for (let i = 0; i < 3; i++) fail('vpopmail', '203.0.113.2');
    await waitFor('the ignorecommand to answer', () => listener.bans.length === 1 && (manager.status('vpopmail') as JailStatus).ignored === 1);
    expect(listener.bans[0]!.ip).toBe('203.0.113.2');
  });
});

describe('IPv6 per prefix', () => {
  it('ipv6_prefix = 64 counts and bans the /64 an attacker hops around in', () => {
    const { fail, listener } = setup(VPOPMAIL + 'ipv6_prefix = 64\n');
    fail('vpopmail', '2001:db8:1:2::1');
    fail('vpopmail', '2001:db8:1:2::abcd');
    fail('vpopmail', '2001:db8:1:2:ffff::7');
    expect(listener.bans.map((b) => b.ip)).toEqual(['2001:db8:1:2::/64']);
  });

  it('by default each IPv6 address counts alone; IPv4 is never grouped', () => {
    const { fail, listener } = setup(VPOPMAIL);
    fail('vpopmail', '2001:db8:1:2::1');
    fail('vpopmail', '2001:db8:1:2::2');
    fail('vpopmail', '2001:db8:1:2::3');
    expect(listener.bans).toHaveLength(0);
  });

  it('a /64 holding an ignored address is counted per address instead', () => {
    const { fail, listener } = setup(VPOPMAIL + 'ipv6_prefix = 64\nignoreip = 2001:db8:1:2::53\n');
    fail('vpopmail', '2001:db8:1:2::1');
    fail('vpopmail', '2001:db8:1:2::2');
    fail('vpopmail', '2001:db8:1:2::3');
    expect(listener.bans).toHaveLength(0);
    fail('vpopmail', '2001:db8:1:2::1');
    fail('vpopmail', '2001:db8:1:2::1');
    expect(listener.bans.map((b) => b.ip)).toEqual(['2001:db8:1:2::1']);
  });

  it('fleetban unban with one address of a banned /64 lifts the /64', () => {
    const { fail, manager, listener } = setup(VPOPMAIL + 'ipv6_prefix = 64\n');
    for (let i = 1; i <= 3; i++) fail('vpopmail', `2001:db8:1:2::${i}`);
    expect(manager.unban('vpopmail', '2001:db8:1:2::99')).toBe(1);
    expect(listener.unbans[0]).toMatchObject({ ip: '2001:db8:1:2::/64', reason: 'manual' });
  });
});

describe('bans end', () => {
  it('after bantime; a negative bantime bans for ever', () => {
    const { fail, clock, manager, listener, tick } = setup(VPOPMAIL + '[forever]\nenabled = true\nbantime = -1\n');
    for (let i = 0; i < 3; i++) fail('vpopmail', '203.0.113.7');
    for (let i = 0; i < 3; i++) fail('forever', '203.0.113.8');
    expect(listener.bans[1]!.until).toBeNull();
    clock.advance(3599);
    tick();
    expect(listener.unbans).toHaveLength(0);
    clock.advance(1);
    tick();
    expect(listener.unbans).toEqual([{ jail: 'vpopmail', ip: '203.0.113.7', scope: { kind: 'fleet' }, origins: ['mx1'], reason: 'expired' }]);
    clock.advance(10 * 365 * 86400);
    tick();
    expect(listener.unbans).toHaveLength(1);
    expect(manager.isBanned('forever', '203.0.113.8')).toBe(true);
  });

  it('an address banned before is banned longer (bantime.increment), and its failures weigh more', () => {
    const { fail, clock, manager, listener, tick } = setup(VPOPMAIL + 'bantime.increment = true\n');
    const banOnce = () => {
      while (!manager.isBanned('vpopmail', '203.0.113.7')) fail('vpopmail', '203.0.113.7');
      const b = listener.bans[listener.bans.length - 1]!;
      clock.t = b.until!;
      tick();
      return b;
    };
    const first = banOnce();
    const second = banOnce();
    const third = banOnce();
    expect([first, second, third].map((b) => (b.until! - b.since) / 1000)).toEqual([3600, 7200, 14400]);
    expect([first, second, third].map((b) => b.count)).toEqual([1, 2, 3]);
    // A third-time offender's failures count 3 each: one is enough now (maxretry 3).
    expect(third.failures).toBe(3);
    fail('vpopmail', '203.0.113.7');
    expect(manager.isBanned('vpopmail', '203.0.113.7')).toBe(true);
  });

  it('ban history is forgotten after dbpurgeage: a reformed address starts again from bantime', () => {
    const { fail, clock, manager, listener, tick } = setup(VPOPMAIL + 'maxretry = 1\nbantime = 10m\nbantime.increment = true\n', { dbPurgeAge: 86400 });
    fail('vpopmail', '203.0.113.7');
    clock.advance(601);
    tick();
    fail('vpopmail', '203.0.113.7');
    expect(listener.bans.map((b) => b.count)).toEqual([1, 2]);
    clock.advance(2 * 86400);
    tick();
    fail('vpopmail', '203.0.113.7');
    const last = listener.bans[2]!;
    expect(last.count).toBe(1);
    expect((last.until! - last.since) / 1000).toBe(600);
  });

  it('bantime.overalljails counts bans of every jail', () => {
    const text = `
[DEFAULT]
maxretry = 1
bantime = 10m
bantime.increment = true
[vpopmail]
enabled = true
bantime.overalljails = true
[courier-auth]
enabled = true
`;
    const { fail, listener } = setup(text);
    fail('courier-auth', '203.0.113.7');
    fail('vpopmail', '203.0.113.7');
    expect(listener.bans.map((b) => [b.jail, (b.until! - b.since) / 1000, b.count])).toEqual([
      ['courier-auth', 600, 1],
      ['vpopmail', 1200, 2],
    ]);
  });

  it('fleetban unban lifts a ban at once, in one jail or in all', () => {
    const { fail, manager, listener } = setup(VPOPMAIL + 'maxretry = 1\n[courier-auth]\nenabled = true\nmaxretry = 1\n');
    fail('vpopmail', '203.0.113.7');
    fail('courier-auth', '203.0.113.7');
    expect(manager.unban('vpopmail', '203.0.113.7')).toBe(1);
    expect(manager.unban('vpopmail', '203.0.113.7')).toBe(0);
    expect(manager.unban(undefined, '203.0.113.7')).toBe(1);
    expect(listener.unbans.map((u) => [u.jail, u.reason])).toEqual([
      ['vpopmail', 'manual'],
      ['courier-auth', 'manual'],
    ]);
    expect(() => manager.unban('nosuch', '203.0.113.7')).toThrow(/no such jail/);
    expect(() => manager.unban(undefined, 'not-an-ip')).toThrow(/not an IP address/);
  });
});

describe('manual bans follow the automatic path', () => {
  it('fleetban ban writes, announces and counts like a jail decision', () => {
    const { manager, listener, state } = setup(VPOPMAIL + 'bantime.increment = true\n');
    const d = manager.ban('vpopmail', '203.0.113.70');
    expect(d).toMatchObject({ ip: '203.0.113.70', manual: true, count: 1 });
    expect(listener.bans).toEqual([d]);
    expect(state.loadBans().map((b) => b.ip)).toEqual(['203.0.113.70']);
    // Banning again returns the ban as it is, without a second announcement.
    expect(manager.ban('vpopmail', '203.0.113.70')).toBe(d);
    expect(listener.bans).toHaveLength(1);
    expect(() => manager.ban('vpopmail', '300.1.1.1')).toThrow(/not an IP address/);
  });

  it('a manual ban in an origin-scoped jail goes to the whole fleet: it has no origin', () => {
    const { manager } = setup(VPOPMAIL + 'scope = origin\n');
    expect((manager.ban('vpopmail', '203.0.113.70') as Ban).scope).toEqual({ kind: 'fleet' });
  });
});

describe('matched lines kept with a ban', () => {
  it('keeps the last maxmatches lines, passwords removed', () => {
    const { fail, state } = setup(VPOPMAIL);
    for (let i = 1; i <= 3; i++) {
      fail('vpopmail', '203.0.113.7', 'mx1', undefined, `vchkpw-pop3: password fail (pass: 'hunter${i}') bob@example.com:203.0.113.7`);
    }
    const [ban] = state.loadBans();
    expect(ban!.matches).toEqual([1, 2, 3].map(() => "vchkpw-pop3: password fail (pass: '***') bob@example.com:203.0.113.7"));
    expect(JSON.stringify(state.loadBans())).not.toContain('hunter');
  });
});

describe('a recidive jail fed by the bans of the others', () => {
  it('bans an address banned repeatedly, for a week', () => {
    const text = `
[DEFAULT]
maxretry = 1
bantime = 10m
[vpopmail]
enabled = true
[recidive]
enabled = true
filter =
sources = bans
maxretry = 3
findtime = 1d
bantime = 1w
`;
    const { fail, clock, manager, listener, tick } = setup(text);
    for (let round = 0; round < 3; round++) {
      fail('vpopmail', '203.0.113.7');
      clock.advance(601);
      tick();
    }
    const recidive = listener.bans.filter((b) => b.jail === 'recidive');
    expect(recidive).toHaveLength(1);
    expect((recidive[0]!.until! - recidive[0]!.since) / 86400_000).toBe(7);
  });
});

describe('reload', () => {
  it('keeps the failures and bans of jails that remain, lifts those of removed jails', () => {
    const both = VPOPMAIL + '[courier-auth]\nenabled = true\n';
    const { fail, manager, listener, state } = setup(both);
    fail('vpopmail', '203.0.113.1');
    fail('vpopmail', '203.0.113.1');
    for (let i = 0; i < 3; i++) fail('courier-auth', '203.0.113.2');
    manager.ban('vpopmail', '203.0.113.3');

    manager.reload(jails(VPOPMAIL.replace('bantime = 1h', 'bantime = 2h')));
    expect(manager.jailNames()).toEqual(['vpopmail']);
    expect(listener.unbans).toEqual([{ jail: 'courier-auth', ip: '203.0.113.2', scope: { kind: 'fleet' }, origins: ['mx1'], reason: 'reload' }]);
    expect(manager.isBanned('vpopmail', '203.0.113.3')).toBe(true);
    // Two failures before the reload and one after make three.
    fail('vpopmail', '203.0.113.1');
    const last = listener.bans[listener.bans.length - 1]!;
    expect(last.ip).toBe('203.0.113.1');
    expect((last.until! - last.since) / 1000).toBe(7200);
    expect(state.loadBans().map((b) => `${b.jail} ${b.ip}`).sort()).toEqual(['vpopmail 203.0.113.1', 'vpopmail 203.0.113.3']);
  });

  it('carries failures over when maxretry or findtime change', () => {
    const { fail, manager, listener } = setup(VPOPMAIL);
    fail('vpopmail', '203.0.113.1');
    fail('vpopmail', '203.0.113.1');
    manager.reload(jails(VPOPMAIL.replace('maxretry = 3', 'maxretry = 2')));
    fail('vpopmail', '203.0.113.1');
    expect(listener.bans).toHaveLength(1);
  });

  it('takes a new never-ban list when the fleet changes', () => {
    const { fail, manager, listener } = setup(VPOPMAIL);
    fail('vpopmail', '198.18.0.6');
    fail('vpopmail', '198.18.0.6');
    const fleet = new CidrSet();
    fleet.add('198.18.0.6');
    manager.reload(jails(VPOPMAIL), fleet);
    expect(manager.status('vpopmail')).toMatchObject({ currentlyFailed: 0 });
    fail('vpopmail', '198.18.0.6');
    expect(listener.bans).toHaveLength(0);
    expect(() => manager.ban('vpopmail', '198.18.0.6')).toThrow(/never banned/);
  });

  it('forgets failures of addresses a new ignoreip covers', () => {
    const { fail, manager } = setup(VPOPMAIL);
    fail('vpopmail', '203.0.113.1');
    manager.reload(jails(VPOPMAIL + 'ignoreip = 203.0.113.0/24\n'));
    expect(manager.status('vpopmail')).toMatchObject({ currentlyFailed: 0 });
  });
});

describe('failures are written behind, a bounded batch at a time', () => {
  it('a flood of new addresses is written over several flushes instead of stalling the service', () => {
    const { fail, manager, state } = setup(VPOPMAIL, { failureRowsPerFlush: 100 });
    for (let i = 0; i < 250; i++) fail('vpopmail', `198.51.100.${i}`);
    expect(manager.pendingFailureWrites()).toBe(250);
    state.flush();
    expect(manager.pendingFailureWrites()).toBe(150);
    state.flush();
    state.flush();
    expect(manager.pendingFailureWrites()).toBe(0);
    expect([...state.loadFailures('vpopmail', 0)]).toHaveLength(250);
  });
});

describe('stop and start', () => {
  it('stop writes every pending failure, however many; start reads them back without writing them again', () => {
    const first = setup(VPOPMAIL, { failureRowsPerFlush: 10 });
    for (let i = 0; i < 35; i++) first.fail('vpopmail', `198.51.100.${i}`);
    first.manager.stop();
    expect([...first.state.loadFailures('vpopmail', 0)]).toHaveLength(35);
    const second = setup(VPOPMAIL, { state: first.state, clock: first.clock });
    expect(second.manager.status('vpopmail')).toMatchObject({ currentlyFailed: 35 });
    expect(second.manager.pendingFailureWrites()).toBe(0);
  });
});

describe('status', () => {
  it("shows fail2ban-client's counters", () => {
    const { fail, manager } = setup(VPOPMAIL);
    for (let i = 0; i < 3; i++) fail('vpopmail', '203.0.113.1');
    fail('vpopmail', '203.0.113.2');
    expect(manager.status('vpopmail')).toEqual({
      jail: 'vpopmail',
      filter: 'vpopmail',
      scope: 'fleet',
      sources: [],
      maxRetry: 3,
      findTime: 600,
      banTime: 3600,
      currentlyFailed: 1,
      totalFailed: 4,
      currentlyBanned: 1,
      totalBanned: 1,
      ignored: 0,
      forged: 0,
      bannedIps: ['203.0.113.1'],
    });
    expect(() => manager.status('nosuch')).toThrow(JailError);
  });
});
