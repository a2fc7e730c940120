import { canonicalIp } from '../net/address.js';

/**
 * The client address at the end of a vchkpw log line, read the way vchkpw
 * writes it (vpopmail's vchkpw.c and get_remote_ip() in vpopmail.c, the
 * same from 5.4 to 5.6):
 *
 * - The address comes from TCPREMOTEIP (tcpserver) or REMOTE_HOST (xinetd).
 *   An address of at most 30 characters is cleaned: a leading `::x:` is cut
 *   (`::ffff:203.0.113.7` is written `203.0.113.7`) and every character
 *   outside `[A-Za-z0-9_.@-]` becomes `_`, so an IPv6 address loses its
 *   colons: `2a01:4f8::1` is written `2a01_4f8__1`. A longer address (an
 *   IPv6 address of 31 to 39 characters) is written as it is, colons and all.
 * - Every message ends `LOGIN:ADDRESS`. Most write a login vchkpw has
 *   already checked (is_username_valid / is_domain_valid: no `:`, no `@` in
 *   either part, no space): there the first `:` after the login ends it.
 * - `null password given %s:%s` and `invalid user/domain characters %s:%s`
 *   write the login exactly as the client sent it, `:` and all. There the
 *   address is the part after the last `:` when that is a whole address by
 *   itself (IPv4 or the `_` form); when the line ends in a hexadecimal
 *   group, the address is an IPv6 address written with its colons and the
 *   login may end in hexadecimal groups too (`x:2001:db8` + `:2a01:4f8::1`).
 *   Every way of cutting the line that leaves a valid address is a
 *   candidate; one candidate is the address, more than one is ambiguous.
 */

/**
 * An address as vchkpw writes it (with `_` for `:`, or as it is), canonical,
 * or null. `asWritten`: refuse what vchkpw never writes, an address with
 * colons of at most 30 characters (it would have been cleaned); for the
 * lines whose login holds no `:`, where this refuses and never chooses.
 */
export function readVchkpwAddress(text: string, asWritten = false): string | null {
  if (text.length === 0 || text.charCodeAt(0) === 91 /* [ */) return null;
  if (text.indexOf('_') !== -1) {
    // The cleaned form: never mixed with colons, and always an IPv6 address.
    if (text.indexOf(':') !== -1) return null;
    const ip = canonicalIp(text.replaceAll('_', ':'));
    return ip !== null && ip.indexOf(':') !== -1 ? ip : null;
  }
  if (asWritten && text.length <= CLEANED_UP_TO && text.indexOf(':') !== -1) return null;
  return canonicalIp(text);
}

/** get_remote_ip() cleans an address of up to this many characters (its buffer). */
const CLEANED_UP_TO = 30;

export type VchkpwSplit =
  | { kind: 'address'; ip: string; login: string }
  /** More than one address can be read; `candidates` canonical, shortest text first. */
  | { kind: 'ambiguous'; candidates: string[] }
  | { kind: 'none' };

/** Longest text of an IPv6 address (eight groups, or six and an embedded IPv4). */
const MAX_ADDRESS = 45;

const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/**
 * Split `LOGIN:ADDRESS` where LOGIN was written as the client sent it and
 * may itself hold `:`, `@`, hex groups or `::ffff:`.
 */
export function splitVchkpwTail(tail: string): VchkpwSplit {
  const last = tail.lastIndexOf(':');
  if (last === -1) return { kind: 'none' };
  const end = tail.slice(last + 1);
  if (!HEX_GROUP.test(end)) {
    // IPv4 or the `_` form: it holds no colon, so the last one ends the login.
    const ip = readVchkpwAddress(end);
    return ip === null ? { kind: 'none' } : { kind: 'address', ip, login: tail.slice(0, last) };
  }
  // An IPv6 address written with its colons: try every cut at a ':' within reach.
  const found: { ip: string; at: number }[] = [];
  for (let at = last; at >= 0 && tail.length - at - 1 <= MAX_ADDRESS; at = at === 0 ? -1 : tail.lastIndexOf(':', at - 1)) {
    const text = tail.slice(at + 1);
    if (text.indexOf('_') !== -1) break;
    const ip = text.indexOf(':') === -1 ? null : canonicalIp(text);
    if (ip !== null) found.push({ ip, at });
  }
  if (found.length === 0) return { kind: 'none' };
  if (found.length === 1) return { kind: 'address', ip: found[0]!.ip, login: tail.slice(0, found[0]!.at) };
  return { kind: 'ambiguous', candidates: found.map((f) => f.ip) };
}
