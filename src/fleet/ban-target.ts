import { canonicalIp, formatCidr, parseCidr } from '../net/address.js';

/**
 * What may be banned on a host: an address in its canonical form, or a
 * network as `prefixKey` prints it for jails with `ipv6_prefix` (2001:db8::/64).
 * These are the only values from outside fleetban that reach a remote
 * command unquoted, so anything else is refused before a ledger row exists.
 */
export function isBanTarget(ip: string): boolean {
  if (ip.length > 49) return false;
  if (!ip.includes('/')) return canonicalIp(ip) === ip;
  const c = parseCidr(ip);
  return c !== null && formatCidr(c) === ip;
}
