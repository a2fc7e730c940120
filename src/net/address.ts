/**
 * IP addresses as fleetban handles them: parsed strictly, printed in one
 * canonical form. Every address that reaches a jail, the state database or a
 * remote command has been through `canonicalIp`, so text an attacker wrote
 * into a log line never travels further than this parser.
 *
 * Canonical forms: IPv4 as a dotted quad without leading zeros; IPv6 as
 * RFC 5952 (lower case, longest run of zero groups compressed, no leading
 * zeros); IPv4-mapped IPv6 (`::ffff:a.b.c.d`) folded to IPv4, because Courier
 * logs IPv4 clients that way and the firewall must see the IPv4 address.
 */

export type Family = 4 | 6;

export interface Address {
  family: Family;
  /** 4 bytes for IPv4, 16 for IPv6. */
  bytes: Uint8Array;
}

/** Parse a dotted quad; rejects leading zeros (ambiguous octal) and out-of-range octets. */
function parseIPv4Into(text: string, start: number, end: number, out: Uint8Array, at: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = start; i <= end; i++) {
    const c = i === end ? 46 /* . */ : text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return false; // leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return false;
    } else if (c === 46) {
      if (digits === 0 || part > 3) return false;
      out[at + part++] = value;
      value = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  return part === 4;
}

function parseIPv6(text: string): Uint8Array | null {
  // Zone ids (fe80::1%eth0) name an interface of the writer: meaningless here.
  if (text.length < 2 || text.length > 45) return null;
  const bytes = new Uint8Array(16);
  const groups: number[] = [];
  let gap = -1;
  let i = 0;
  const n = text.length;
  if (text.startsWith('::')) {
    gap = 0;
    i = 2;
    if (n === 2) return bytes;
  } else if (text.charCodeAt(0) === 58) {
    return null;
  }
  while (i < n) {
    // Find the end of this group.
    let j = i;
    let hasDot = false;
    while (j < n && text.charCodeAt(j) !== 58) {
      if (text.charCodeAt(j) === 46) hasDot = true;
      j++;
    }
    if (hasDot) {
      // Embedded IPv4 must be last and leave room for two groups.
      if (j !== n || groups.length > 6) return null;
      const v4 = new Uint8Array(4);
      if (!parseIPv4Into(text, i, j, v4, 0)) return null;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      i = j;
      break;
    }
    const len = j - i;
    if (len === 0 || len > 4) return null;
    let v = 0;
    for (let k = i; k < j; k++) {
      const c = text.charCodeAt(k);
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else if (c >= 65 && c <= 70) d = c - 55;
      else return null;
      v = (v << 4) | d;
    }
    groups.push(v);
    if (groups.length > 8) return null;
    if (j === n) {
      i = j;
      break;
    }
    // j is at ':'
    if (j + 1 < n && text.charCodeAt(j + 1) === 58) {
      if (gap !== -1) return null; // two '::'
      gap = groups.length;
      i = j + 2;
      if (i === n) break;
    } else {
      i = j + 1;
      if (i === n) return null; // trailing single ':'
    }
  }
  if (gap === -1) {
    if (groups.length !== 8) return null;
  } else if (groups.length > 7) {
    return null;
  }
  const tail = gap === -1 ? 0 : groups.length - gap;
  for (let g = 0; g < groups.length; g++) {
    const pos = gap !== -1 && g >= gap ? 8 - tail + (g - gap) : g;
    bytes[pos * 2] = groups[g]! >> 8;
    bytes[pos * 2 + 1] = groups[g]! & 0xff;
  }
  return bytes;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/**
 * Parse an address written by anyone. Accepts IPv4, IPv6 (optionally in
 * brackets), IPv4-mapped IPv6 (returned as IPv4). Returns null for anything
 * else, including host names, CIDRs, zone ids and surrounding whitespace.
 */
export function parseIp(text: string): Address | null {
  if (text.length === 0 || text.length > 47) return null;
  if (text.charCodeAt(0) === 91 /* [ */ && text.charCodeAt(text.length - 1) === 93) {
    text = text.slice(1, -1);
  }
  if (text.indexOf(':') === -1) {
    const bytes = new Uint8Array(4);
    return parseIPv4Into(text, 0, text.length, bytes, 0) ? { family: 4, bytes } : null;
  }
  const b = parseIPv6(text);
  if (!b) return null;
  if (isV4Mapped(b)) return { family: 4, bytes: b.slice(12) };
  return { family: 6, bytes: b };
}

/** Print an address in its canonical form (see the module comment). */
export function formatIp(a: Address): string {
  const b = a.bytes;
  if (a.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952 4.2: compress the longest run of two or more zero groups, the first on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => g.slice(from, to).map((x) => x.toString(16)).join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** The canonical form of `text`, or null when it is not an IP address. */
export function canonicalIp(text: string): string | null {
  const a = parseIp(text);
  return a ? formatIp(a) : null;
}

/** The family of a canonical address (cheap: no parse). */
export function familyOf(canonical: string): Family {
  return canonical.indexOf(':') === -1 ? 4 : 6;
}

/** A network: an address with its prefix length, host bits cleared. */
export interface Cidr {
  family: Family;
  bytes: Uint8Array;
  prefix: number;
}

function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out[i]! &= bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return out;
}

/**
 * Parse `a.b.c.d/n`, `v6/n`, or a bare address (a host network: /32 or /128).
 * Host bits are cleared, as fail2ban's ignoreip does.
 */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const addr = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (!addr) return null;
  const max = addr.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return null;
    prefix = Number(p);
    // An IPv4-mapped network written in IPv6 terms: shift its prefix to IPv4 terms.
    if (addr.family === 4 && text.slice(0, slash).includes(':')) prefix -= 96;
    if (prefix < 0 || prefix > max) return null;
  }
  return { family: addr.family, bytes: maskBytes(addr.bytes, prefix), prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c)}/${c.prefix}`;
}

/** True when address `a` lies inside network `c`. */
export function cidrContains(c: Cidr, a: Address): boolean {
  if (c.family !== a.family) return false;
  const full = c.prefix >> 3;
  for (let i = 0; i < full; i++) if (c.bytes[i] !== a.bytes[i]) return false;
  const rest = c.prefix & 7;
  if (rest === 0) return true;
  const m = (0xff << (8 - rest)) & 0xff;
  return (a.bytes[full]! & m) === c.bytes[full];
}

/** True when two networks share an address: the wider one contains the other's base. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  return a.prefix <= b.prefix ? cidrContains(a, { family: b.family, bytes: b.bytes }) : cidrContains(b, { family: a.family, bytes: a.bytes });
}

/**
 * The key failures and bans of an IPv6 attacker are counted under when a jail
 * sets `ipv6_prefix` below 128: the network, printed as `net/len`. IPv4 and
 * a prefix of 128 leave the canonical address unchanged.
 */
export function prefixKey(canonical: string, ipv6Prefix: number): string {
  if (ipv6Prefix >= 128 || familyOf(canonical) === 4) return canonical;
  const a = parseIp(canonical);
  if (!a) return canonical;
  return formatCidr({ family: 6, bytes: maskBytes(a.bytes, ipv6Prefix), prefix: ipv6Prefix });
}
