import { familyOf, parseIp } from '../net/address.js';
import { quoteFor, shellContexts, type ShellContext } from './shell-quote.js';

/**
 * Tags fleetban fills in per ban, as fail2ban does when it runs an action:
 * everything else in an action file is resolved once, when it is read.
 *
 * Safe tags are produced by fleetban itself (a canonical address printed by
 * src/net/address, numbers, fixed words) and go in as they are. Untrusted
 * tags carry text from log lines (`<F-USER>`, `<matches>`): an attacker wrote
 * them, so they are quoted for the place they stand in, or refused where no
 * quoting is safe.
 */
const SAFE_TAGS = new Set([
  'ip',
  'fid',
  'ip-rev',
  'family',
  'bantime',
  'bantime-left',
  'failures',
  'ipfailures',
  'ipjailfailures',
  'time',
  'restored',
]);
const UNTRUSTED_TAGS = new Set(['matches', 'ipmatches', 'ipjailmatches']);

export function isDynamicTag(name: string): boolean {
  return SAFE_TAGS.has(name) || isUntrustedTag(name);
}

export function isUntrustedTag(name: string): boolean {
  return UNTRUSTED_TAGS.has(name) || name.startsWith('F-');
}

/** The values of one ban on one host, for the dynamic tags. */
export interface TagValues {
  /** Canonical address. */
  ip: string;
  /** Seconds the ban lasts; -1 for ever (fail2ban's convention). */
  bantime: number;
  /** ms since the epoch when the ban ends; null for ever. */
  until: number | null;
  failures: number;
  /** ms since the epoch of the ban. */
  time: number;
  /** True when reconciliation re-sends a ban decided earlier. */
  restored: boolean;
  /** Captured `<F-*>` fields of the last failure. */
  fields: Record<string, string>;
  /** Now, ms since the epoch (for <bantime-left>). */
  now: number;
}

type Part = { lit: string } | { tag: string; ctx: ShellContext };

const TAG_RE = /<([^ <>]+)>/g;

/**
 * One command of an action file (actionban, ...), with its static tags
 * already replaced, compiled once so that rendering a ban is a join.
 */
export class CommandTemplate {
  private constructor(
    readonly source: string,
    private readonly parts: Part[],
  ) {}

  /**
   * Compile `text`. Throws an Error naming the tag when an untrusted tag
   * stands where sh would not read a quoted value as one word, or when
   * `allowUntrusted` is false (a batch line goes through a here-document).
   */
  static compile(text: string, opts: { allowUntrusted?: boolean } = {}): CommandTemplate {
    const ctx = shellContexts(text);
    const parts: Part[] = [];
    let last = 0;
    for (const m of text.matchAll(TAG_RE)) {
      const name = m[1]!;
      if (!isDynamicTag(name)) continue;
      const at = m.index;
      if (isUntrustedTag(name)) {
        if (opts.allowUntrusted === false) {
          throw new Error(`<${name}> carries text from log lines and cannot be used here`);
        }
        if (ctx[at] === 'unsafe') {
          throw new Error(
            `<${name}> carries text from log lines; it cannot be quoted safely inside backticks, \${...}, $((...)) or a here-document`,
          );
        }
      }
      if (at > last) parts.push({ lit: text.slice(last, at) });
      parts.push({ tag: name, ctx: ctx[at]! });
      last = at + m[0].length;
    }
    if (last < text.length) parts.push({ lit: text.slice(last) });
    return new CommandTemplate(text, parts);
  }

  /** The dynamic tags the command uses. */
  tags(): string[] {
    return this.parts.flatMap((p) => ('tag' in p ? [p.tag] : []));
  }

  render(v: TagValues): string {
    let out = '';
    for (const p of this.parts) {
      if ('lit' in p) out += p.lit;
      else out += isUntrustedTag(p.tag) ? quoteFor(p.ctx, untrustedValue(p.tag, v)) : safeValue(p.tag, v);
    }
    return out;
  }
}

function safeValue(tag: string, v: TagValues): string {
  switch (tag) {
    case 'ip':
    case 'fid':
      return v.ip;
    case 'ip-rev':
      return reverseName(v.ip);
    case 'family':
      return familyOf(v.ip) === 6 ? 'inet6' : 'inet4';
    case 'bantime':
      return String(Math.trunc(v.bantime));
    case 'bantime-left':
      return String(bantimeLeft(v));
    case 'failures':
    case 'ipfailures':
    case 'ipjailfailures':
      return String(Math.trunc(v.failures));
    case 'time':
      return String(Math.floor(v.time / 1000));
    case 'restored':
      return v.restored ? '1' : '0';
  }
  return '';
}

/**
 * Seconds until the ban ends, at least 1; 0 for a ban for ever. ipset and
 * nft read a timeout of 0 as "no timeout", so a set entry added with it
 * expires on the server at the ban's end even if fleetban is gone by then,
 * and a ban re-sent late does not outlive its decision.
 */
export function bantimeLeft(v: { until: number | null; now: number }): number {
  if (v.until === null) return 0;
  return Math.max(1, Math.ceil((v.until - v.now) / 1000));
}

function untrustedValue(tag: string, v: TagValues): string {
  if (!tag.startsWith('F-')) return '';
  const f = v.fields;
  const bare = tag.slice(2);
  const value = f[tag] ?? f[bare] ?? f[bare.toLowerCase()] ?? '';
  // A log field longer than this is not a user name; keep commands small.
  return value.length > 1024 ? value.slice(0, 1024) : value;
}

/** fail2ban's <ip-rev>: the address as a DNS reverse name, with its trailing dot. */
function reverseName(ip: string): string {
  const a = parseIp(ip);
  if (!a) return '';
  if (a.family === 4) return `${[...a.bytes].reverse().join('.')}.`;
  let nibbles = '';
  for (let i = 15; i >= 0; i--) {
    const b = a.bytes[i]!;
    nibbles += `${(b & 15).toString(16)}.${(b >> 4).toString(16)}.`;
  }
  return nibbles;
}
