import { describe, expect, it } from 'vitest';
import type { FleetHost } from '../../src/config/fleet-reader.js';
import { Backoff } from '../../src/fleet/backoff.js';
import { describeExit } from '../../src/fleet/ssh-session.js';
import { sshArgv } from '../../src/fleet/ssh-command.js';

const host: FleetHost = {
  name: 'mx1',
  address: 'mx1.example.net',
  port: 2222,
  user: 'root',
  identity: '/etc/fleetban/id ed25519',
  knownHosts: '/etc/fleetban/known hosts',
  groups: [],
  driver: 'shell',
  timeoutMs: 10_000,
  connectTimeoutMs: 7_500,
  aliveIntervalS: 5,
};

const opt = (argv: string[], name: string) => argv.find((a, i) => argv[i - 1] === '-o' && a.startsWith(`${name}=`));

describe('the ssh command line', () => {
  it('never prompts, checks host keys strictly and detects dead links', () => {
    const argv = sshArgv(host, 'exec /bin/sh');
    expect(opt(argv, 'BatchMode')).toBe('BatchMode=yes');
    expect(opt(argv, 'StrictHostKeyChecking')).toBe('StrictHostKeyChecking=yes');
    expect(opt(argv, 'UserKnownHostsFile')).toBe('UserKnownHostsFile="/etc/fleetban/known hosts"');
    expect(opt(argv, 'ServerAliveInterval')).toBe('ServerAliveInterval=5');
    expect(opt(argv, 'ConnectTimeout')).toBe('ConnectTimeout=8');
    expect(argv.slice(-7)).toEqual(['-p', '2222', '-l', 'root', '--', 'mx1.example.net', 'exec /bin/sh']);
    expect(argv[argv.indexOf('-i') + 1]).toBe('/etc/fleetban/id ed25519');
  });

  it('reaches a host through a jump host checked the same way', () => {
    const argv = sshArgv({ ...host, jump: 'admin@bastion.example.net:2200' }, 'fleetban-remote');
    const proxy = opt(argv, 'ProxyCommand')!;
    expect(proxy).toMatch(/^ProxyCommand='ssh' '-T' /);
    expect(proxy).toContain("'-o' 'StrictHostKeyChecking=yes'");
    expect(proxy).toContain(`'-o' 'UserKnownHostsFile="/etc/fleetban/known hosts"'`);
    expect(proxy).toContain("'-i' '/etc/fleetban/id ed25519'");
    expect(proxy).toMatch(/'-W' %h:%p '-p' '2200' '-l' 'admin' '--' 'bastion\.example\.net'$/);
    expect(opt(sshArgv({ ...host, address: '2001:db8::25', jump: 'bastion' }, 'x'), 'ProxyCommand')).toMatch(/'-W' \[%h\]:%p '-p' '22' '-l' 'root' '--' 'bastion'$/);
  });

  it('says in one line why a session ended', () => {
    expect(describeExit('@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n...\nHost key verification failed.\n', 255, null)).toBe(
      'host key changed: refused (if the change is expected, update known_hosts)',
    );
    expect(describeExit('No ED25519 host key is known for x and you have requested strict checking.\nHost key verification failed.\n', 255, null)).toBe(
      'host key not in known_hosts: refused',
    );
    expect(describeExit('ssh: connect to host 198.18.0.2 port 22: Connection refused\r\n', 255, null)).toBe(
      'ssh: connect to host 198.18.0.2 port 22: Connection refused',
    );
    expect(describeExit('', null, 'SIGKILL')).toBe('ssh ended by SIGKILL');
  });
});

describe('reconnect backoff', () => {
  it('grows from a quarter second to a cap, with jitter between half and all of the step', () => {
    const lo = new Backoff(250, 30_000, () => 0);
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9].map(() => lo.next())).toEqual([125, 250, 500, 1000, 2000, 4000, 8000, 15_000, 15_000]);
    const hi = new Backoff(250, 30_000, () => 1);
    expect([1, 2, 3].map(() => hi.next())).toEqual([250, 500, 1000]);
    hi.reset();
    expect(hi.next()).toBe(250);
  });
});
