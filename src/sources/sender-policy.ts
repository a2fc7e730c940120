import { canonicalIp } from '../net/address.js';
import { CidrSet } from '../net/cidr-set.js';

/**
 * What the listeners ask about the address a message came from. The service
 * builds one from fleetban.conf and fleet.conf; reload hands a new one.
 */
export interface SenderPolicy {
  /** May this sender (canonical IP) feed the filters? A forged failure line from outside would ban an innocent address everywhere. */
  allowed(ip: string): boolean;
  /** The origin of a message (see LogEvent.origin): fleet host by sender address, else by hostname, else the hostname, else the sender. */
  originOf(senderIp: string, hostname: string | undefined): string;
  /** Zone of RFC 3164 stamps from this sender, when it is not the central host's (a Timezone.parse name). */
  timezoneOf?(senderIp: string): string | undefined;
}

/** A fleet.conf host as the policy needs it. */
export interface FleetHostAddress {
  /** fleet.conf section name. */
  name: string;
  /** Its address (IP; names are ignored here, a DNS answer is no proof of who sent a datagram). */
  address: string;
}

export interface FleetSenderPolicyOptions {
  /** `[listen] allowed_senders`; empty means the default: loopback plus every fleet host address. */
  allowedSenders: string[];
  hosts: FleetHostAddress[];
  /** `[listen] timezone`: CIDR to zone name, first match wins. */
  senderTimezones?: { cidr: string; tz: string }[];
}

/**
 * The policy fleetban.conf and fleet.conf describe. With `allowed_senders`
 * empty only loopback and the fleet's own addresses may send: the safe
 * default for a host that bans on what it reads.
 */
export class FleetSenderPolicy implements SenderPolicy {
  private readonly allow = new CidrSet();
  private readonly byAddress = new Map<string, string>();
  private readonly byName = new Map<string, string>();
  private readonly zones: { net: CidrSet; tz: string }[] = [];

  constructor(opts: FleetSenderPolicyOptions) {
    for (const h of opts.hosts) {
      const ip = canonicalIp(h.address);
      if (ip && !this.byAddress.has(ip)) this.byAddress.set(ip, h.name);
      this.byName.set(h.name.toLowerCase(), h.name);
    }
    if (opts.allowedSenders.length === 0) {
      this.allow.add('127.0.0.0/8');
      this.allow.add('::1/128');
      for (const ip of this.byAddress.keys()) this.allow.add(ip);
    } else {
      for (const c of opts.allowedSenders) {
        if (!this.allow.add(c)) throw new RangeError(`allowed_senders: not an address or CIDR: ${JSON.stringify(c)}`);
      }
    }
    for (const z of opts.senderTimezones ?? []) {
      const net = new CidrSet();
      if (!net.add(z.cidr)) throw new RangeError(`timezone: not an address or CIDR: ${JSON.stringify(z.cidr)}`);
      this.zones.push({ net, tz: z.tz });
    }
  }

  allowed(ip: string): boolean {
    return this.allow.has(ip);
  }

  originOf(senderIp: string, hostname: string | undefined): string {
    const byAddress = this.byAddress.get(senderIp);
    if (byAddress) return byAddress;
    if (hostname) {
      const lower = hostname.toLowerCase();
      const named = this.byName.get(lower) ?? this.byName.get(lower.split('.', 1)[0]!);
      return named ?? hostname;
    }
    return senderIp;
  }

  timezoneOf(senderIp: string): string | undefined {
    for (const z of this.zones) if (z.net.has(senderIp)) return z.tz;
    return undefined;
  }
}
