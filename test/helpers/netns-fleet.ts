import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FleetDriver, FleetHost } from '../../src/config/fleet-reader.js';
import { TEST_USER, ensureTestUser, sshKeygen } from './ssh-keys.js';
import { sleep } from './wait.js';

export { sleep, waitFor } from './wait.js';

/**
 * Mail servers for tests: each a network namespace with a veth /30 out of
 * 198.18.0.0/16, its own hostname (unshare --uts) and its own sshd with its
 * own host key. Inside, `ip route`, ipset, iptables and nft change only the
 * namespace. The central side (the test process) reaches host i at
 * 198.18.BLOCK.(4i+2).
 */

export const REMOTE_HELPER = resolve(import.meta.dirname, '../../packaging/remote/fleetban-remote');

export interface NetnsHost {
  /** fleet.conf name and hostname inside: mx1, mx2, ... */
  name: string;
  ns: string;
  address: string;
  groups: string[];
  hostKey: string;
  sshdConfig: string;
  authorizedKeys: string;
  sshdPid?: number;
}

export interface NetnsFleetOptions {
  /** Short tag, unique per suite: namespaces are fbf<tag><i> (interface names stay within 15 characters). */
  tag: string;
  /** Third octet of 198.18.BLOCK.0/24, unique per suite. */
  block: number;
  count: number;
  /** The action fleetban-remote runs for the forced-command key, per host (default route). */
  remoteAction?: (i: number) => 'route' | 'ipset' | 'nftables';
  groups?: (i: number) => string[];
}

const SSHD = '/usr/sbin/sshd';

export class NetnsFleet {
  readonly hosts: NetnsHost[] = [];
  /** Key allowed to run anything (the shell driver). */
  readonly shellKey: string;
  /** Key bound to fleetban-remote (the remote driver). */
  readonly remoteKey: string;
  readonly knownHosts: string;
  private readonly cleanupOnExit = () => this.destroySync();

  private constructor(
    readonly dir: string,
    readonly o: NetnsFleetOptions,
  ) {
    this.shellKey = join(dir, 'shell_ed25519');
    this.remoteKey = join(dir, 'remote_ed25519');
    this.knownHosts = join(dir, 'known_hosts');
  }

  static async create(o: NetnsFleetOptions): Promise<NetnsFleet> {
    if (o.tag.length > 4 || o.count > 60) throw new Error('tag of at most 4 characters, at most 60 hosts');
    ensureTestUser();
    execFileSync('mkdir', ['-p', '/run/sshd']);
    const fleet = new NetnsFleet(mkdtempSync(join(tmpdir(), `fbf${o.tag}-`)), o);
    process.once('exit', fleet.cleanupOnExit);
    const shellPub = sshKeygen(fleet.shellKey);
    const remotePub = sshKeygen(fleet.remoteKey);
    const known: string[] = [];
    for (let i = 0; i < o.count; i++) {
      const h = fleet.makeHost(i);
      // The forced command: whatever the client asks for, this runs.
      const forced = `${REMOTE_HELPER} -c /dev/null -a ${o.remoteAction?.(i) ?? 'route'}`;
      writeFileSync(h.authorizedKeys, `${shellPub}\nrestrict,command="${forced}" ${remotePub}\n`);
      fleet.hosts.push(h);
      known.push(`${h.address} ${sshKeygen(h.hostKey, h.name).split(' ').slice(0, 2).join(' ')}`);
    }
    writeFileSync(fleet.knownHosts, `${known.join('\n')}\n`);
    await Promise.all(fleet.hosts.map((h) => fleet.startSshd(h)));
    return fleet;
  }

  private makeHost(i: number): NetnsHost {
    const ns = `fbf${this.o.tag}${i + 1}`;
    const name = `mx${i + 1}`;
    const base = 4 * i;
    const peer = `198.18.${this.o.block}.${base + 1}`;
    const address = `198.18.${this.o.block}.${base + 2}`;
    removeNamespace(ns); // left over from a run that crashed
    const outside = `${ns}h`;
    const inside = `${ns}n`;
    sh('ip', 'netns', 'add', ns);
    sh('ip', 'link', 'add', outside, 'type', 'veth', 'peer', 'name', inside, 'netns', ns);
    sh('ip', 'addr', 'add', `${peer}/30`, 'dev', outside);
    sh('ip', 'link', 'set', outside, 'up');
    sh('ip', '-n', ns, 'addr', 'add', `${address}/30`, 'dev', inside);
    sh('ip', '-n', ns, 'link', 'set', inside, 'up');
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
    const hostDir = join(this.dir, name);
    execFileSync('mkdir', ['-p', hostDir]);
    const hostKey = join(hostDir, 'host_ed25519');
    const sshdConfig = join(hostDir, 'sshd_config');
    writeFileSync(
      sshdConfig,
      [
        `ListenAddress ${address}:22`,
        `HostKey ${hostKey}`,
        'PidFile none',
        `AuthorizedKeysFile ${join(hostDir, 'authorized_keys')}`,
        'StrictModes no',
        'UsePAM no',
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        `AllowUsers ${TEST_USER}`,
        'MaxSessions 100',
        'MaxStartups 200:30:400',
        'UseDNS no',
        'PrintMotd no',
        'LogLevel ERROR',
        '',
      ].join('\n'),
    );
    return { name, ns, address, groups: this.o.groups?.(i) ?? [], hostKey, sshdConfig, authorizedKeys: join(hostDir, 'authorized_keys') };
  }

  /** fleet.conf's text for these hosts over the shell driver, as an administrator writes it. */
  fleetConf(timeoutS = 3): string {
    return this.fleetHosts('shell')
      .map((h) => `[${h.name}]\naddress = ${h.address}\nuser = ${h.user}\nidentity = ${h.identity}\nknown_hosts = ${h.knownHosts}\ntimeout = ${timeoutS}\nconnect_timeout = ${timeoutS}\n`)
      .join('');
  }

  /** fleet.conf entries for these hosts. */
  fleetHosts(driver: FleetDriver = 'shell', over: Partial<FleetHost> = {}): FleetHost[] {
    return this.hosts.map((h) => ({
      name: h.name,
      address: h.address,
      port: 22,
      user: TEST_USER,
      identity: driver === 'shell' ? this.shellKey : this.remoteKey,
      knownHosts: this.knownHosts,
      groups: h.groups,
      driver,
      timeoutMs: 3000,
      connectTimeoutMs: 3000,
      aliveIntervalS: 2,
      ...over,
    }));
  }

  host(name: string): NetnsHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  async startSshd(h: NetnsHost): Promise<void> {
    const log = `${h.sshdConfig}.log`;
    const child = spawn(
      'ip',
      ['netns', 'exec', h.ns, 'unshare', '--uts', 'sh', '-c', 'hostname "$1" && exec "$2" -D -E "$4" -f "$3"', 'sh', h.name, SSHD, h.sshdConfig, log],
      { stdio: 'ignore' },
    );
    child.unref();
    h.sshdPid = child.pid;
    const deadline = Date.now() + 10_000;
    while (!(await sshBanner(h.address))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`sshd in ${h.ns} did not start: ${readLog(log)}`);
      await sleep(50);
    }
  }

  /** Every process in the namespace (sshd and the sessions it serves). */
  pids(h: NetnsHost): number[] {
    try {
      return execFileSync('ip', ['netns', 'pids', h.ns], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean)
        .map(Number);
    } catch {
      return [];
    }
  }

  /** The host goes down: its sshd and every session on it die. */
  async stopSshd(h: NetnsHost): Promise<void> {
    for (let i = 0; i < 50; i++) {
      const pids = this.pids(h);
      if (pids.length === 0) break;
      for (const p of pids) signal(p, 'SIGKILL');
      await sleep(50);
    }
    h.sshdPid = undefined;
  }

  /** Kill the processes named `comm` that run in this host's namespace (and only those). */
  killInside(h: NetnsHost, comm: string): void {
    for (const p of this.pids(h)) {
      try {
        if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm) signal(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }

  /** The host hangs: every process in it stops (connections stay open, nothing answers). */
  freeze(h: NetnsHost): void {
    for (const p of this.pids(h)) signal(p, 'SIGSTOP');
  }

  thaw(h: NetnsHost): void {
    for (const p of this.pids(h)) signal(p, 'SIGCONT');
  }

  /** The host gets a new host key (reinstalled, or someone in the middle); known_hosts keeps the old one. */
  async changeHostKey(h: NetnsHost): Promise<void> {
    await this.stopSshd(h);
    rmSync(h.hostKey, { force: true });
    rmSync(`${h.hostKey}.pub`, { force: true });
    sshKeygen(h.hostKey, `${h.name}-new`);
    await this.startSshd(h);
  }

  /** Run a command inside the host. */
  exec(h: NetnsHost, ...argv: string[]): string {
    return execFileSync('ip', ['netns', 'exec', h.ns, ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Addresses with an unreachable (or other `type`) route on the host, IPv4 and IPv6. */
  routes(h: NetnsHost, type = 'unreachable'): string[] {
    const out = [
      ...execFileSync('ip', ['-n', h.ns, '-4', 'route', 'show', 'type', type], { encoding: 'utf8' }).split('\n'),
      ...execFileSync('ip', ['-n', h.ns, '-6', 'route', 'show', 'type', type], { encoding: 'utf8' }).split('\n'),
    ];
    return out
      .map((l) => l.trim().split(/\s+/)[1] ?? '')
      .filter((a) => a && !a.includes('/'))
      .sort();
  }

  async destroy(): Promise<void> {
    for (const h of this.hosts) {
      this.thaw(h);
      await this.stopSshd(h);
    }
    this.destroySync();
  }

  /** For scripts (benchmarks): an interrupted run still removes its namespaces. */
  cleanupOnSignals(): void {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        for (const h of this.hosts) this.thaw(h);
        this.destroySync();
        process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
      });
    }
  }

  destroySync(): void {
    for (const h of this.hosts) removeNamespace(h.ns);
    rmSync(this.dir, { recursive: true, force: true });
    process.removeListener('exit', this.cleanupOnExit);
  }
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8').slice(-2000);
  } catch {
    return '(no log)';
  }
}

function removeNamespace(ns: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    for (const p of pids.split('\n').filter(Boolean)) {
      signal(Number(p), 'SIGCONT');
      signal(Number(p), 'SIGKILL');
    }
  } catch {
    return; // no such namespace
  }
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

function sh(...argv: string[]): void {
  execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** True when an SSH server answers with its banner at address:22. */
function sshBanner(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: address, port: 22 });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('data', (d) => done(d.toString().startsWith('SSH-')));
    s.once('error', () => done(false));
  });
}

