import { parseCidr } from '../net/address.js';
import type { ConfigSet } from './config-set.js';
import type { ListenAddress } from './service-config.js';
import { parseTimeValue } from './time-value.js';

/**
 * Typed readers for single values, each failing with a ConfigError that
 * points at the file, line and key of the value.
 */

/** Sizes: `65536`, `64k`, `4M`, `1g` (powers of 1024). */
export function parseSize(text: string): number | null {
  const m = /^(\d+)\s*([kmg]i?b?)?$/i.exec(text.trim());
  if (!m) return null;
  const mult = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').charAt(0).toLowerCase()] ?? 1;
  return Number(m[1]) * mult;
}

/** `host:port`, `[v6]:port`, or `*:port`. */
export function parseListenAddress(text: string): ListenAddress | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  const host = m[1] ?? (m[2] === '*' ? '0.0.0.0' : m[2]!);
  return { host, port };
}

/** Print a listen address as fleetban.conf writes it: `host:port`, `[v6]:port`. */
export function formatListenAddress(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Split a list written with commas, spaces or one item per line. */
export function splitList(value: string): string[] {
  return value.split(/[\s,]+/).filter(Boolean);
}

/** Reads typed values of one section, with errors pointing at the key. */
export class SectionReader {
  constructor(
    readonly conf: ConfigSet,
    readonly section: string,
  ) {}

  string(key: string, fallback: string): string {
    return this.conf.get(this.section, key) ?? fallback;
  }

  optionalString(key: string): string | undefined {
    const v = this.conf.get(this.section, key)?.trim();
    return v ? v : undefined;
  }

  private typed<T>(key: string, fallback: T, parse: (v: string) => T | null, what: string): T {
    const v = this.conf.get(this.section, key);
    if (v === undefined || v.trim() === '') return fallback;
    const out = parse(v);
    if (out === null) throw this.conf.error(this.section, key, `${what}, not ${JSON.stringify(v.trim())}`);
    return out;
  }

  int(key: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    return this.typed(key, fallback, (v) => {
      const n = /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
      return Number.isInteger(n) && n >= min && n <= max ? n : null;
    }, `expected a whole number from ${min} to ${max}`);
  }

  duration(key: string, fallback: number): number {
    return this.typed(key, fallback, parseTimeValue, 'expected a time such as 600, 10m, 1h or 1d12h');
  }

  size(key: string, fallback: number): number {
    return this.typed(key, fallback, parseSize, 'expected a size such as 65536, 64k or 4M');
  }

  bool(key: string, fallback: boolean): boolean {
    return this.typed(key, fallback, (v) => {
      const t = v.trim().toLowerCase();
      if (['yes', 'true', 'on', '1'].includes(t)) return true;
      if (['no', 'false', 'off', '0'].includes(t)) return false;
      return null;
    }, 'expected yes or no');
  }

  choice<T extends string>(key: string, fallback: T, allowed: readonly T[]): T {
    return this.typed(key, fallback, (v) => (allowed.includes(v.trim() as T) ? (v.trim() as T) : null), `expected one of ${allowed.join(', ')}`);
  }

  list(key: string): string[] {
    return splitList(this.conf.get(this.section, key) ?? '');
  }

  addresses(key: string): ListenAddress[] {
    return this.list(key).map((item) => {
      const a = parseListenAddress(item);
      if (!a) throw this.conf.error(this.section, key, `expected host:port or [v6]:port, not ${JSON.stringify(item)}`);
      return a;
    });
  }

  cidrs(key: string): string[] {
    return this.list(key).map((item) => {
      if (!parseCidr(item)) throw this.conf.error(this.section, key, `expected an address or CIDR, not ${JSON.stringify(item)}`);
      return item;
    });
  }
}
