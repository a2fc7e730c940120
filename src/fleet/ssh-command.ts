import type { FleetHost } from '../config/fleet-reader.js';
import { shellQuote } from './shell-quote.js';

/**
 * The argument vector of the system OpenSSH client for one host. Keys,
 * agents, certificates and ssh_config keep working as the administrator set
 * them up; fleetban only adds what its sessions depend on:
 * - BatchMode: never a password or passphrase prompt; a missing key is an error.
 * - StrictHostKeyChecking=yes against the configured known_hosts: an unknown
 *   or changed host key fails the connection, it is never accepted.
 * - ServerAliveInterval: a dead link is noticed while the session is idle.
 * - No multiplexing, forwarding or tty: one plain session, nothing else.
 */
export function sshArgv(host: FleetHost, remoteCommand: string): string[] {
  return [...sshOptions(host), '-p', String(host.port), '-l', host.user, '--', host.address, remoteCommand];
}

function sshOptions(host: FleetHost): string[] {
  const o = (key: string, value: string | number) => ['-o', `${key}=${value}`];
  const argv = [
    '-T',
    '-x',
    '-a',
    '-e',
    'none',
    ...o('BatchMode', 'yes'),
    ...o('StrictHostKeyChecking', 'yes'),
    ...o('UpdateHostKeys', 'no'),
    ...o('ControlMaster', 'no'),
    ...o('ControlPath', 'none'),
    ...o('ClearAllForwardings', 'yes'),
    ...o('PermitLocalCommand', 'no'),
    ...o('ConnectTimeout', Math.max(1, Math.ceil(host.connectTimeoutMs / 1000))),
    ...o('ServerAliveInterval', host.aliveIntervalS),
    ...o('ServerAliveCountMax', 3),
    ...o('LogLevel', 'ERROR'),
  ];
  if (host.identity) argv.push('-i', host.identity, ...o('IdentitiesOnly', 'yes'));
  if (host.knownHosts) argv.push(...o('UserKnownHostsFile', configPath(host.knownHosts)), ...o('GlobalKnownHostsFile', '/dev/null'));
  if (host.jump) argv.push(...o('ProxyCommand', proxyCommand(host)));
  return argv;
}

/**
 * ProxyJump through `jump`, written as a ProxyCommand so that the jump host
 * is checked with the same known_hosts, key and batch mode as the target
 * (options given to `ssh -J` on the command line do not reach the jump host).
 */
function proxyCommand(host: FleetHost): string {
  const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host.jump!)!;
  const jumpHost = m[2]!.replace(/^\[|\]$/g, '');
  const jump: FleetHost = { ...host, jump: undefined, address: jumpHost, port: m[3] ? Number(m[3]) : 22, user: m[1] ?? host.user };
  // ssh expands %-tokens in ProxyCommand; our words carry none of their own.
  const target = host.address.includes(':') ? '[%h]:%p' : '%h:%p';
  const words = ['ssh', ...sshOptions(jump), '-W', target, '-p', String(jump.port), '-l', jump.user, '--', jump.address];
  return words.map((w) => (w === target ? w : shellQuote(w.replace(/%/g, '%%')))).join(' ');
}

/** ssh_config splits some values at spaces; quote a path that has any. */
function configPath(p: string): string {
  return /\s/.test(p) ? `"${p}"` : p;
}
