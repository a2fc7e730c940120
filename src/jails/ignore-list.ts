import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import { cidrContains, cidrsOverlap, parseCidr, parseIp, type Address, type Cidr } from '../net/address.js';

/** Resolves a host name to its addresses (node's dns.lookup by default; tests pass their own). */
export type NameResolver = (name: string) => Promise<string[]>;

export const systemResolver: NameResolver = async (name) => (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);

/**
 * A jail's `ignoreip` (addresses, IPv4 and IPv6 networks, host names) and
 * `ignoreself` (this host's own addresses). Names are resolved when the jail
 * is loaded and on every reload, as fail2ban does, not per failure: a log
 * line must not be able to make fleetban query DNS.
 */
export class IgnoreList {
  private nets: Cidr[] = [];
  private resolved: Cidr[] = [];
  readonly names: string[] = [];

  constructor(entries: readonly string[], ignoreSelf: boolean) {
    for (const e of entries) {
      const c = parseCidr(e);
      if (c) this.nets.push(c);
      else this.names.push(e);
    }
    if (ignoreSelf) this.nets.push(...ownAddresses());
  }

  /** Resolve the names; returns the ones that failed, with why. Keeps earlier results of a name that fails now. */
  async resolve(resolver: NameResolver = systemResolver): Promise<{ name: string; error: string }[]> {
    const failed: { name: string; error: string }[] = [];
    const next: Cidr[] = [];
    await Promise.all(
      this.names.map(async (name) => {
        try {
          for (const a of await resolver(name)) {
            const c = parseCidr(a);
            if (c) next.push(c);
          }
        } catch (err) {
          failed.push({ name, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
        }
      }),
    );
    if (failed.length === 0 || next.length > 0) this.resolved = next;
    return failed;
  }

  has(a: Address): boolean {
    for (const c of this.nets) if (cidrContains(c, a)) return true;
    for (const c of this.resolved) if (cidrContains(c, a)) return true;
    return false;
  }

  /** True when network `n` and any ignored network share an address (for per-prefix IPv6 bans). */
  overlaps(n: Cidr): boolean {
    for (const c of this.nets) if (cidrsOverlap(c, n)) return true;
    for (const c of this.resolved) if (cidrsOverlap(c, n)) return true;
    return false;
  }
}

/** Loopback can never be an attacker: whatever the configuration says, it is not banned. */
export const LOOPBACK: readonly Cidr[] = [parseCidr('127.0.0.0/8')!, parseCidr('::1/128')!];

export function isLoopback(a: Address): boolean {
  return LOOPBACK.some((c) => cidrContains(c, a));
}

function ownAddresses(): Cidr[] {
  const out: Cidr[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      // Link-local addresses carry a zone (%eth0) that the parser refuses; they are not reachable from outside anyway.
      const a = parseIp(i.address);
      if (a) out.push({ family: a.family, bytes: a.bytes, prefix: a.family === 4 ? 32 : 128 });
    }
  }
  return out;
}
