/**
 * `fleetban run` nodes of a cluster on one real PostgreSQL, pushing to
 * namespace sshd hosts, for the cluster suites and benchmarks: each node's
 * configuration, a sender of Courier failures (maxretry = 1, so every
 * failure is a ban), and the ban commands the hosts ran, as they wrote them
 * down.
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NetnsFleet } from './netns-fleet.js';
import { testConfDir } from './service-process.js';

/** One Courier failure line as a mail server sends it, for `ip` (IPv4 or IPv6). */
export function courierFailure(ip: string): string {
  const client = ip.includes(':') ? ip : `::ffff:${ip}`;
  return `<38>Dec  2 10:00:00 mx1 imapd[4001]: LOGIN FAILED, user=info@example.com, ip=[${client}], port=[4001]`;
}

/** Sends failures over UDP to a node's listener. */
export class FailureSender {
  private readonly sock = createSocket('udp4');

  send(port: number, ip: string): Promise<void> {
    return new Promise((r) => this.sock.send(courierFailure(ip), port, '127.0.0.1', () => r()));
  }

  close(): void {
    this.sock.close();
  }
}

export interface NodeConfOptions {
  name: string;
  udp: number;
  /** `[state] url`; omitted: the node runs alone on SQLite (the peer). */
  url?: string;
  leaseS?: number;
  fleet: NetnsFleet;
  /** Folder where every host appends one line per ban command: `ban IP NODE MS`. */
  pushDir: string;
  /** Extra lines for `[state]`. */
  state?: string[];
}

/**
 * A node's configuration folder: the shipped conf/, the node's listener,
 * the hosts, and a route action that also writes down on the host each ban
 * it runs, with the node that sent it and the host's clock in ms (one
 * command per ban: no batches, so every push is seen).
 */
export function nodeConf(o: NodeConfOptions): string {
  const hosts = o.fleet.fleetConf(5);
  const files: Record<string, string> = {
    'fleet.conf': hosts,
    'action.d/pushlog.conf': [
      '[INCLUDES]',
      'before = route.conf',
      '[Definition]',
      `actionban = <iproute> route replace <blocktype> <ip> && echo "ban <ip> ${o.name} $(date +%%s%%3N)" >> ${o.pushDir}/push-$(hostname).log`,
      `actionunban = <iproute> route del <blocktype> <ip> 2>/dev/null || true`,
      'actionban_batch =',
      'actionban_batchline =',
      'actionunban_batch =',
      'actionunban_batchline =',
      '',
    ].join('\n'),
    'jail.local': '[DEFAULT]\nbanaction = pushlog\nbantime = 1h\nbantime.increment = false\n[courier-auth]\nmaxretry = 1\n',
  };
  if (o.url) {
    files['fleetban.d/cluster.conf'] = [
      '[state]',
      'backend = postgresql',
      `url = ${o.url}`,
      `node = ${o.name}`,
      `lease = ${o.leaseS ?? 3}`,
      ...(o.state ?? []),
      '',
    ].join('\n');
  }
  return testConfDir({ udp: o.udp, files });
}

export interface Push {
  host: string;
  ip: string;
  node: string;
  /** The host's clock when the route was in place, ms since the epoch. */
  at: number;
}

/** Every ban command the hosts ran, as the action wrote them down. */
export function readPushes(pushDir: string, hosts: readonly string[]): Push[] {
  const out: Push[] = [];
  for (const host of hosts) {
    let text = '';
    try {
      text = readFileSync(join(pushDir, `push-${host}.log`), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const [kind, ip, node, at] = line.split(' ');
      if (kind === 'ban' && ip && node && at) out.push({ host, ip, node, at: Number(at) });
    }
  }
  return out;
}
