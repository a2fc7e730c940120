import { cidrContains, cidrsOverlap, parseCidr, parseIp, type Cidr } from './address.js';

/**
 * A list of networks to test addresses against (ignoreip, allowed_senders).
 * Lists are short (tens of entries); a linear scan of pre-parsed networks
 * costs less than building a trie.
 */
export class CidrSet {
  private readonly nets: Cidr[] = [];

  /** Add `text`; returns false (and adds nothing) when it is not an address or CIDR. */
  add(text: string): boolean {
    const c = parseCidr(text.trim());
    if (!c) return false;
    this.nets.push(c);
    return true;
  }

  get size(): number {
    return this.nets.length;
  }

  /** True when `ip` (any textual form) is inside one of the networks. */
  has(ip: string): boolean {
    const a = parseIp(ip);
    if (!a) return false;
    for (const c of this.nets) if (cidrContains(c, a)) return true;
    return false;
  }

  /** True when network `c` shares an address with one of the networks (a /64 that holds a fleet host). */
  overlaps(c: Cidr): boolean {
    for (const n of this.nets) if (cidrsOverlap(n, c)) return true;
    return false;
  }
}
