import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { ConfigSet } from '../../src/config/config-set.js';
import { fleetFrom, readFleet } from '../../src/config/fleet-reader.js';

const read = (text: string) => fleetFrom(ConfigSet.fromString(text, 'fleet.conf'), '/etc/fleetban');

describe('reading fleet.conf', () => {
  it('reads one host per section with [DEFAULT] values and defaults', () => {
    const hosts = read(`
[DEFAULT]
user = fleetban
identity = keys/fleetban_ed25519
known_hosts = /etc/fleetban/fleet_known_hosts
driver = fleetban-remote

[mx1]
address = 198.51.100.11
groups = imap, eu

[mx2]
address = mx2.example.net
port = 2222
jump = admin@bastion.example.net:22
driver = shell
timeout = 2s
`);
    expect(hosts).toEqual([
      {
        name: 'mx1',
        address: '198.51.100.11',
        port: 22,
        user: 'fleetban',
        identity: '/etc/fleetban/keys/fleetban_ed25519',
        knownHosts: '/etc/fleetban/fleet_known_hosts',
        groups: ['imap', 'eu'],
        driver: 'fleetban-remote',
        timeoutMs: 10_000,
        connectTimeoutMs: 10_000,
        aliveIntervalS: 5,
      },
      {
        name: 'mx2',
        address: 'mx2.example.net',
        port: 2222,
        user: 'fleetban',
        identity: '/etc/fleetban/keys/fleetban_ed25519',
        knownHosts: '/etc/fleetban/fleet_known_hosts',
        groups: [],
        jump: 'admin@bastion.example.net:22',
        driver: 'shell',
        timeoutMs: 2000,
        connectTimeoutMs: 10_000,
        aliveIntervalS: 5,
      },
    ]);
  });

  it('ships an empty fleet', () => {
    expect(readFleet(resolve(import.meta.dirname, '../../conf'))).toEqual([]);
  });

  it.each([
    ['[mx1]\ngroups = a\n', /fleet\.conf: \[mx1\] address: every host needs an address/],
    ['[mx1]\naddress = -oProxyCommand=x\n', /fleet\.conf:2: \[mx1\] address: expected an IP address or a DNS name/],
    ['[mx1]\naddress = 198.51.100.1\nuser = root;id\n', /fleet\.conf:3: \[mx1\] user: not a user name/],
    ['[mx1]\naddress = 198.51.100.1\nport = 70000\n', /fleet\.conf:3: \[mx1\] port: expected a whole number from 1 to 65535/],
    ['[mx1]\naddress = 198.51.100.1\ndriver = telnet\n', /\[mx1\] driver: expected one of shell, fleetban-remote/],
    ['[mx1]\naddress = 198.51.100.1\njump = a b\n', /\[mx1\] jump: expected \[user@\]host\[:port\]/],
    ['[mx1]\naddress = 198.51.100.1\ntimeout = soon\n', /\[mx1\] timeout: expected a time/],
    ['[mx1]\naddress = 198.51.100.1\n[mx2]\naddress = 198.51.100.1\n', /fleet\.conf:4: \[mx2\] address: 198\.51\.100\.1 port 22 is already host mx1/],
    ['[mx 1]\naddress = 198.51.100.1\n', /host name "mx 1"/],
  ])('refuses %j naming file, line and key', (text, message) => {
    expect(() => read(text)).toThrow(message);
  });
});
