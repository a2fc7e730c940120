import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../helpers/requirements.js';
import { NetnsFleet, waitFor, type NetnsHost } from '../helpers/netns-fleet.js';
import { FleetHarness, shippedAction } from './harness.js';

const skip = missing('fleet over SSH (ipset, nftables, iptables)', {
  root: true,
  commands: ['ip', 'ssh', '/usr/sbin/sshd', 'unshare', 'ssh-keygen', 'ipset', 'nft', 'iptables'],
});

describe.skipIf(skip)('ipset, nftables and iptables-multiport actions on three mail servers', () => {
  let fleet: NetnsFleet;
  let h: FleetHarness | undefined;
  const ALL = ['mx1', 'mx2', 'mx3'];

  beforeAll(async () => {
    fleet = await NetnsFleet.create({ tag: 'b', block: 11, count: 3 });
  });
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });
  afterAll(async () => {
    await fleet?.destroy();
  });

  /** Members of an ipset on a host, as `ipset list` shows them. */
  const ipsetMembers = (x: NetnsHost, set: string): string[] => {
    const out = fleet.exec(x, 'ipset', 'list', set);
    return out.slice(out.indexOf('Members:') + 'Members:'.length).trim().split('\n').filter(Boolean).map((l) => l.split(' ')[0]!).sort();
  };
  /** Elements of an nft set on a host. */
  const nftElements = (x: NetnsHost, set: string): string[] => {
    const out = fleet.exec(x, 'nft', '-j', 'list', 'set', 'inet', 'f2b-table', set);
    const elems = (JSON.parse(out).nftables.find((o: { set?: unknown }) => o.set).set.elem ?? []) as unknown[];
    return elems.map((e) => (typeof e === 'string' ? e : (e as { elem: { val: string } }).elem.val)).sort();
  };

  it('bans into an ipset per jail with a firewall rule, IPv4 and IPv6, and unbans', async () => {
    h = new FleetHarness(fleet.fleetHosts('shell'), { 'courier-auth': [shippedAction('ipset', 'courier-auth')] }).start();
    h.ban('courier-auth', '203.0.113.10');
    h.ban('courier-auth', '2001:db8::10', { bantimeS: -1 });
    await h.until('courier-auth', '203.0.113.10', ALL, 'applied');
    await h.until('courier-auth', '2001:db8::10', ALL, 'applied');
    for (const x of fleet.hosts) {
      expect(ipsetMembers(x, 'f2b-courier-auth')).toEqual(['203.0.113.10']);
      expect(ipsetMembers(x, 'f2b-courier-auth6')).toEqual(['2001:db8::10']);
      expect(fleet.exec(x, 'iptables', '-S', 'INPUT')).toContain('-A INPUT -m set --match-set f2b-courier-auth src -j REJECT --reject-with icmp-port-unreachable');
      expect(fleet.exec(x, 'ip6tables', '-S', 'INPUT')).toContain('--match-set f2b-courier-auth6 src -j REJECT');
      // A ban with an end has it as its timeout; a ban for ever has none (0).
      expect(fleet.exec(x, 'ipset', 'list', 'f2b-courier-auth')).toMatch(/203\.0\.113\.10 timeout (59\d|600)\b/);
      expect(fleet.exec(x, 'ipset', 'list', 'f2b-courier-auth6')).toMatch(/2001:db8::10 timeout 0\b/);
    }
    // A jail with ipv6_prefix bans networks: the set holds both.
    h.ban('courier-auth', '2001:db8:5::/64');
    await h.until('courier-auth', '2001:db8:5::/64', ALL, 'applied');
    for (const x of fleet.hosts) expect(ipsetMembers(x, 'f2b-courier-auth6')).toEqual(['2001:db8:5::/64', '2001:db8::10']);
    h.unban('courier-auth', '2001:db8:5::/64');
    h.unban('courier-auth', '203.0.113.10');
    h.unban('courier-auth', '2001:db8::10');
    await h.gone('courier-auth', '2001:db8:5::/64');
    await h.gone('courier-auth', '203.0.113.10');
    await h.gone('courier-auth', '2001:db8::10');
    for (const x of fleet.hosts) expect(ipsetMembers(x, 'f2b-courier-auth')).toEqual([]);
  });

  it('sends a burst of 1000 bans to each host as a few ipset restores', async () => {
    h = new FleetHarness(fleet.fleetHosts('shell'), { burst: [shippedAction('ipset', 'burst')] }).start();
    await waitFor('all connected', () => h!.dispatcher.hosts().every((s) => s.connected));
    const ips = Array.from({ length: 1000 }, (_, i) => `2001:db8:b::${(i + 1).toString(16)}`);
    const t0 = Date.now();
    for (const ip of ips) h.ban('burst', ip);
    await waitFor('1000 bans applied on 3 hosts', () => h!.settled.filter((e) => e.ok).length === 3000, 30_000);
    const took = Date.now() - t0;
    for (const x of fleet.hosts) expect(ipsetMembers(x, 'f2b-burst6').length).toBe(1000);
    expect(h.dispatcher.hosts().every((s) => s.applied === 1000 && s.pending === 0)).toBe(true);
    // One command per batch, not one per ban: far below 1000 round trips.
    expect(took).toBeLessThan(10_000);
    for (const ip of ips) h.unban('burst', ip);
    await waitFor('1000 unbans applied on 3 hosts', () => h!.dispatcher.hosts().every((s) => s.applied === 0 && s.pending === 0), 30_000);
    for (const x of fleet.hosts) expect(ipsetMembers(x, 'f2b-burst6')).toEqual([]);
  });

  it('puts a host back in shape when it lost its set: actioncheck fails, actionstart runs, bans are sent again', async () => {
    h = new FleetHarness(fleet.fleetHosts('shell'), { lost: [shippedAction('ipset', 'lost')] }).start();
    h.ban('lost', '203.0.113.20');
    h.ban('lost', '203.0.113.21');
    await h.until('lost', '203.0.113.21', ALL, 'applied');
    await h.until('lost', '203.0.113.20', ALL, 'applied');
    // mx2 rebooted, or someone flushed its firewall.
    const mx2 = fleet.host('mx2');
    fleet.exec(mx2, 'iptables', '-D', 'INPUT', '-m', 'set', '--match-set', 'f2b-lost', 'src', '-j', 'REJECT', '--reject-with', 'icmp-port-unreachable');
    fleet.exec(mx2, 'ipset', 'destroy', 'f2b-lost');
    h.dispatcher.reconcileAll();
    await waitFor('mx2 restored', () => {
      try {
        return ipsetMembers(mx2, 'f2b-lost').join(',') === '203.0.113.20,203.0.113.21';
      } catch {
        return false;
      }
    });
    expect(fleet.exec(mx2, 'iptables', '-S', 'INPUT')).toContain('--match-set f2b-lost src');
    expect(h.dispatcher.hosts().find((s) => s.name === 'mx2')).toMatchObject({ applied: 2, pending: 0, failed: 0 });
  });

  it('bans into nftables sets with timeouts', async () => {
    h = new FleetHarness(fleet.fleetHosts('shell'), { sasl: [shippedAction('nftables', 'sasl')] }).start();
    h.ban('sasl', '203.0.113.30', { bantimeS: 3600 });
    h.ban('sasl', '203.0.113.31', { bantimeS: 3600 });
    h.ban('sasl', '2001:db8::30', { bantimeS: -1 });
    for (const ip of ['203.0.113.30', '203.0.113.31', '2001:db8::30']) await h.until('sasl', ip, ALL, 'applied');
    for (const x of fleet.hosts) {
      expect(nftElements(x, 'addr-set-sasl')).toEqual(['203.0.113.30', '203.0.113.31']);
      expect(nftElements(x, 'addr6-set-sasl')).toEqual(['2001:db8::30']);
      const set = fleet.exec(x, 'nft', 'list', 'set', 'inet', 'f2b-table', 'addr-set-sasl');
      expect(set).toMatch(/203\.0\.113\.30 timeout 1h expires 59m5\ds/);
      expect(fleet.exec(x, 'nft', 'list', 'chain', 'inet', 'f2b-table', 'f2b-chain')).toContain('ip saddr @addr-set-sasl reject');
    }
    h.unban('sasl', '203.0.113.30');
    h.unban('sasl', '2001:db8::30');
    await h.gone('sasl', '203.0.113.30');
    await h.gone('sasl', '2001:db8::30');
    for (const x of fleet.hosts) {
      expect(nftElements(x, 'addr-set-sasl')).toEqual(['203.0.113.31']);
      expect(nftElements(x, 'addr6-set-sasl')).toEqual([]);
    }
  });

  it("bans with fail2ban's classic iptables-multiport chain", async () => {
    h = new FleetHarness(fleet.fleetHosts('shell'), { pop3: [shippedAction('iptables-multiport', 'pop3', { port: '110,995' })] }).start();
    h.ban('pop3', '203.0.113.40');
    await h.until('pop3', '203.0.113.40', ALL, 'applied');
    for (const x of fleet.hosts) {
      expect(fleet.exec(x, 'iptables', '-S', 'INPUT')).toContain('-A INPUT -p tcp -m multiport --dports 110,995 -j f2b-pop3');
      expect(fleet.exec(x, 'iptables', '-S', 'f2b-pop3')).toContain('-A f2b-pop3 -s 203.0.113.40/32 -j REJECT --reject-with icmp-port-unreachable');
    }
    h.unban('pop3', '203.0.113.40');
    await h.gone('pop3', '203.0.113.40');
    for (const x of fleet.hosts) expect(fleet.exec(x, 'iptables', '-S', 'f2b-pop3')).not.toContain('203.0.113.40');
  });
});
