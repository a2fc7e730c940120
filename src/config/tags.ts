import { ConfigError, type ConfigLocation } from './config-error.js';

/** A filter or action named with parameters: `courier-auth[mode=aggressive]`. */
export interface NamedSpec {
  name: string;
  params: Record<string, string>;
}

/**
 * Parse `name[key=value, key2="a, b", key3='x']` as fail2ban writes the
 * `filter =` and `action =` of a jail. Values may be quoted with " or ' to
 * hold commas and brackets; quotes are removed. Anything malformed is an
 * error naming the spec.
 */
export function parseNameWithParams(spec: string, where: ConfigLocation = {}): NamedSpec {
  const s = spec.trim();
  const open = s.indexOf('[');
  if (open === -1) {
    if (!/^[^\s[\]]+$/.test(s)) throw new ConfigError(`not a name: ${JSON.stringify(s)}`, where);
    return { name: s, params: {} };
  }
  const name = s.slice(0, open).trim();
  if (!name || !s.endsWith(']')) throw new ConfigError(`malformed ${JSON.stringify(s)}: expected name[key=value, ...]`, where);
  const body = s.slice(open + 1, -1);
  const params: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    while (i < body.length && /[\s,]/.test(body[i]!)) i++;
    if (i >= body.length) break;
    const eq = body.indexOf('=', i);
    if (eq === -1) throw new ConfigError(`malformed parameter in ${JSON.stringify(s)}: missing '='`, where);
    const key = body.slice(i, eq).trim();
    if (!/^[\w.\-?]+$/.test(key)) throw new ConfigError(`malformed parameter name ${JSON.stringify(key)} in ${JSON.stringify(s)}`, where);
    i = eq + 1;
    while (i < body.length && body[i] === ' ') i++;
    let value = '';
    const q = body[i];
    if (q === '"' || q === "'") {
      const end = body.indexOf(q, i + 1);
      if (end === -1) throw new ConfigError(`unterminated quote in ${JSON.stringify(s)}`, where);
      value = body.slice(i + 1, end);
      i = end + 1;
      // Anything after the closing quote up to the next comma is an error, not silently dropped.
      const rest = /^[^,]*/.exec(body.slice(i))![0];
      if (rest.trim()) throw new ConfigError(`unexpected ${JSON.stringify(rest.trim())} after quoted value in ${JSON.stringify(s)}`, where);
      i += rest.length;
    } else {
      // Unquoted: up to the next comma that is not inside brackets.
      let depth = 0;
      const start = i;
      for (; i < body.length; i++) {
        const c = body[i];
        if (c === '[') depth++;
        else if (c === ']') depth--;
        else if (c === ',' && depth <= 0) break;
      }
      value = body.slice(start, i).trim();
    }
    params[key] = value;
  }
  return { name, params };
}

/**
 * Split a list of specs as jail.conf writes `action =`: one per line, or
 * several separated by whitespace, where brackets and quotes keep their
 * content together (`iptables[name=SMTP, port="25,465"]`).
 */
export function splitSpecList(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  let quote: string | null = null;
  for (const c of value) {
    if (quote) {
      cur += c;
      if (c === quote) quote = null;
      continue;
    }
    if (depth > 0 && (c === '"' || c === "'")) {
      quote = c;
      cur += c;
      continue;
    }
    if (c === '[') depth++;
    if (c === ']') depth = Math.max(0, depth - 1);
    if (depth === 0 && /\s/.test(c)) {
      if (cur) out.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur) out.push(cur);
  return out;
}

const TAG_RE = /<([^ <>]+)>/g;
const MAX_ROUNDS = 32;
/** A value that doubles itself each round would exhaust memory long before MAX_ROUNDS. */
const MAX_LENGTH = 1 << 20;

/**
 * Replace fail2ban's late tags `<name>` in `text` with `lookup(name)`.
 * Tags `lookup` does not know (`<HOST>`, `<F-USER>`, a regex's `(?P<name>`)
 * stay as they are. Values are substituted again, so tags that build tags
 * work: `<mdre-<mode>>` becomes `<mdre-normal>` and then its value. A value
 * that keeps producing tags is a loop, reported as a ConfigError.
 */
export function substituteTags(
  text: string,
  lookup: (name: string) => string | undefined,
  where: ConfigLocation = {},
): string {
  let cur = text;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    let changed = false;
    const next = cur.replace(TAG_RE, (whole, name: string) => {
      const v = lookup(name);
      if (v === undefined || v === whole) return whole;
      changed = true;
      return v;
    });
    if (!changed) return next;
    if (next.length > MAX_LENGTH) break;
    cur = next;
  }
  throw new ConfigError(`tags keep expanding (a loop?) in ${JSON.stringify(text.slice(0, 80))}`, where);
}
