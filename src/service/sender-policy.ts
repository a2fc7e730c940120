import { canonicalIp } from '../net/address.js';
import { CidrSet } from '../net/cidr-set.js';

/** What the sender policy needs to know of a fleet host. */
export interface KnownHost {
  /** fleet.conf section name. */
  name: string;
  /** Address fleetban connects to: an IP or a DNS name. */
  address: string;
}

/**
 * Who may send logs, and which mail server a message is about.
 *
 * Allowed: the configured `allowed_senders`, or by default loopback plus
 * every fleet host's address. Anything else is dropped before matching,
 * because a forged `LOGIN FAILED ... ip=[victim]` from the internet would
 * otherwise ban an innocent address on every server.
 *
 * Origin: the fleet host whose address sent the message, else the fleet host
 * its HOSTNAME names (full name, or first label equal to the section name),
 * else the HOSTNAME as written, else the sender address.
 */
export class SenderPolicy {
  private readonly allowedNets = new CidrSet();
  private readonly byAddress = new Map<string, string>();
  private readonly byName = new Map<string, string>();
  private readonly tz: { nets: CidrSet; tz: string }[] = [];
  /** True when nothing was configured and the default allowlist is in force. */
  readonly usesDefaultAllowlist: boolean;

  constructor(
    hosts: readonly KnownHost[],
    allowedSenders: readonly string[],
    timezones: readonly { cidr: string; tz: string }[] = [],
  ) {
    for (const h of hosts) {
      const ip = canonicalIp(h.address);
      if (ip) this.byAddress.set(ip, h.name);
      else this.byName.set(h.address.toLowerCase(), h.name);
      this.byName.set(h.name.toLowerCase(), h.name);
    }
    this.usesDefaultAllowlist = allowedSenders.length === 0;
    if (allowedSenders.length > 0) {
      for (const c of allowedSenders) this.allowedNets.add(c);
    } else {
      this.allowedNets.add('127.0.0.0/8');
      this.allowedNets.add('::1');
      for (const ip of this.byAddress.keys()) this.allowedNets.add(ip);
    }
    for (const t of timezones) {
      const nets = new CidrSet();
      nets.add(t.cidr);
      this.tz.push({ nets, tz: t.tz });
    }
  }


  allowed(ip: string): boolean {
    return this.allowedNets.has(ip);
  }

  originOf(senderIp: string | undefined, hostname: string | undefined): string {
    if (senderIp) {
      const byIp = this.byAddress.get(senderIp);
      if (byIp) return byIp;
    }
    if (hostname) {
      const h = hostname.toLowerCase();
      const named = this.byName.get(h) ?? this.byName.get(h.split('.')[0]!);
      if (named) return named;
      return hostname;
    }
    return senderIp ?? 'unknown';
  }

  /** Time zone for RFC 3164 stamps without one from this sender; undefined: the central host's. */
  timezoneOf(senderIp: string): string | undefined {
    for (const t of this.tz) if (t.nets.has(senderIp)) return t.tz;
    return undefined;
  }
}
