import { canonicalIp } from '../net/address.js';
import type { ParseOptions } from '../syslog/parse-options.js';
import { Timezone } from '../syslog/timezone.js';
import type { SenderPolicy } from './sender-policy.js';
import type { Counters, StatsBook } from './source-stats.js';

/**
 * One sending address as the listeners see it: asked of the policy once,
 * not once per message.
 */
export class Peer {
  /** Reused for every message of this peer; `now` is set per message. */
  readonly parseOptions: ParseOptions;
  private lastHostname: string | undefined = undefined;
  private lastOrigin: string;
  /** Origins of the hostnames this peer wrote lately: a relay (a central rsyslog) forwards for many hosts in turn. */
  private readonly origins = new Map<string, string>();

  constructor(
    /** Canonical IP. */
    readonly ip: string,
    readonly allowed: boolean,
    zone: Timezone,
    readonly counters: Counters,
    private readonly policy: SenderPolicy,
  ) {
    this.parseOptions = { now: 0, zone };
    this.lastOrigin = policy.originOf(ip, undefined);
  }

  /** Origin of a message from this peer carrying `hostname`; a sender usually repeats the same one. */
  originOf(hostname: string | undefined): string {
    if (hostname === this.lastHostname) return this.lastOrigin;
    let origin = hostname === undefined ? undefined : this.origins.get(hostname);
    if (origin === undefined) {
      origin = this.policy.originOf(this.ip, hostname);
      if (hostname !== undefined) {
        // Hostnames are written by senders: a bounded cache, emptied when full, cannot grow memory.
        if (this.origins.size >= MAX_HOSTNAMES) this.origins.clear();
        this.origins.set(hostname, origin);
      }
    }
    this.lastHostname = hostname;
    this.lastOrigin = origin;
    return origin;
  }
}

/** Hostnames whose origin one peer remembers. */
const MAX_HOSTNAMES = 256;

/** Peers are cached, not remembered: forged UDP sources must not grow memory. */
const MAX_PEERS = 4096;

/** Peers by the address string the socket reports (`::ffff:127.0.0.1` on a dual-stack socket). */
export class PeerBook {
  private readonly peers = new Map<string, Peer>();
  private readonly zones = new Map<string, Timezone>();

  constructor(
    private policy: SenderPolicy,
    private zoneNameOf: (ip: string) => string | undefined,
    private readonly stats: StatsBook,
  ) {}

  get(socketAddress: string): Peer {
    let p = this.peers.get(socketAddress);
    if (p) return p;
    const ip = canonicalIp(socketAddress) ?? socketAddress;
    p = new Peer(ip, this.policy.allowed(ip), this.zoneFor(ip), this.stats.sender(ip), this.policy);
    if (this.peers.size >= MAX_PEERS) this.peers.clear();
    this.peers.set(socketAddress, p);
    return p;
  }

  /** A reload: forget every answer of the old policy. */
  reset(policy: SenderPolicy, zoneNameOf: (ip: string) => string | undefined): void {
    this.policy = policy;
    this.zoneNameOf = zoneNameOf;
    this.peers.clear();
  }

  private zoneFor(ip: string): Timezone {
    const name = this.zoneNameOf(ip);
    if (name === undefined) return Timezone.local;
    let z = this.zones.get(name);
    if (!z) {
      try {
        z = Timezone.parse(name);
      } catch {
        // The config reader validates zone names; one that slipped through reads as local time.
        z = Timezone.local;
      }
      this.zones.set(name, z);
    }
    return z;
  }
}
