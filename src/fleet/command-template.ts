import { familyOf, parseIp } from '../net/address.js';
import { isBanTarget } from './ban-target.js';
import { contextProblem, secondParserProblem } from './second-parsers.js';
import { dataAssignments } from './shell-quote.js';
import { scanShell, type TagContext } from './shell-syntax.js';

/**
 * Tags fleetban fills in per ban, as fail2ban does when it runs an action:
 * everything else in an action file is resolved once, when it is read.
 *
 * Address tags are produced by fleetban itself (a canonical address printed
 * by src/net/address, checked again when a command is rendered), numbers and
 * fixed words, and go into the text. Data tags carry text from log lines
 * (`<F-USER>`, `<matches>`): an attacker wrote them, so they never go into
 * the command text. The text holds a reference (`"${f2bV_F_USER}"`) and the
 * value travels as data (see shell-quote.ts), as fail2ban's `$f2bV_` values.
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
const DATA_TAGS = new Set(['matches', 'ipmatches', 'ipjailmatches']);

export function isDynamicTag(name: string): boolean {
  return SAFE_TAGS.has(name) || isUntrustedTag(name);
}

/** A tag whose value came from a log line: passed as data, never as command text. */
export function isUntrustedTag(name: string): boolean {
  return DATA_TAGS.has(name) || name.startsWith('F-');
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
  /** The matched lines that led to the ban (passwords already removed), for <matches>. */
  matches?: string[];
  /** Now, ms since the epoch (for <bantime-left>). */
  now: number;
}

/** A value from a log line as it travels: the shell variable, and the text it holds. */
export interface DataValue {
  name: string;
  value: string;
}

/** A refused tag: the message, the tag and its offset in the compiled text. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
  constructor(
    message: string,
    readonly tag: string,
    readonly at: number,
  ) {
    super(message);
  }
}

type Part = { lit: string } | { tag: string } | { data: string; variable: string; context: TagContext };

/** The longest value of one captured field; a longer one is not a user name. */
export const MAX_FIELD = 1024;
/** The longest <matches> value: fail2ban's own mail and report actions keep less. */
export const MAX_MATCHES = 16 * 1024;

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
   * Compile `text`. Throws a TemplateError naming the tag when a data tag
   * stands where its value would not be one word for the shell that runs the
   * command, or where a second parser would read it (second-parsers.ts), or
   * when `allowUntrusted` is false (a batch line goes through a here-document).
   */
  static compile(text: string, opts: { allowUntrusted?: boolean } = {}): CommandTemplate {
    const scan = scanShell(text, isDynamicTag, isUntrustedTag);
    const parts: Part[] = [];
    const variables = new Map<string, string>();
    let last = 0;
    let firstData: { name: string; at: number } | undefined;
    for (const t of scan.tags) {
      const { name, at, context } = t;
      if (at < last) continue;
      if (isUntrustedTag(name)) {
        if (opts.allowUntrusted === false) throw new TemplateError(`<${name}> carries text from log lines and cannot be used here`, name, at);
        const why = contextProblem(context);
        if (why) throw new TemplateError(`<${name}> carries text from log lines and stands ${why}`, name, at);
        if (context !== 'comment') firstData ??= { name, at };
      }
      if (at > last) parts.push({ lit: text.slice(last, at) });
      if (isUntrustedTag(name)) {
        let variable = variables.get(name);
        if (!variable) {
          variable = variableName(name, new Set(variables.values()));
          variables.set(name, variable);
        }
        parts.push({ data: name, variable, context });
      } else {
        parts.push({ tag: name });
      }
      last = at + name.length + 2;
    }
    if (last < text.length) parts.push({ lit: text.slice(last) });
    if (firstData) {
      const why = secondParserProblem(scan, firstData.name);
      if (why) throw new TemplateError(why, firstData.name, firstData.at);
    }
    return new CommandTemplate(text, parts);
  }

  /** The dynamic tags the command uses. */
  tags(): string[] {
    return this.parts.flatMap((p) => ('tag' in p ? [p.tag] : 'data' in p ? [p.data] : []));
  }

  /** True when the command carries values from log lines (then it is sent with them, see script()). */
  carriesData(): boolean {
    return this.parts.some((p) => 'data' in p && p.context !== 'comment');
  }

  /**
   * The command text: address tags filled in, data tags as references to
   * their variables (`"${f2bV_F_USER}"` as a word, `${f2bV_F_USER}` inside
   * double quotes, nothing in a comment). No byte of it came from a log line.
   */
  render(v: TagValues): string {
    let out = '';
    for (const p of this.parts) {
      if ('lit' in p) out += p.lit;
      else if ('tag' in p) out += safeValue(p.tag, v);
      else if (p.context === 'bare') out += `"\${${p.variable}}"`;
      else if (p.context === 'double') out += `\${${p.variable}}`;
    }
    return out;
  }

  /** The values of the data tags for this ban, each under its variable name. */
  data(v: TagValues): DataValue[] {
    const out: DataValue[] = [];
    const seen = new Set<string>();
    for (const p of this.parts) {
      if (!('data' in p) || p.context === 'comment' || seen.has(p.variable)) continue;
      seen.add(p.variable);
      out.push({ name: p.variable, value: untrustedValue(p.data, v) });
    }
    return out;
  }

  /**
   * What a shell runs for this ban: the data tags' variables set from an
   * encoding that holds no byte of their values as text (shell-quote.ts),
   * exported (as fail2ban's), then the command.
   */
  script(v: TagValues): string {
    const data = this.data(v);
    const text = this.render(v);
    return data.length ? `${dataAssignments(data)}\n${text}` : text;
  }
}

/** `F-USER` -> `f2bV_F_USER`, unique within one command. */
function variableName(tag: string, taken: Set<string>): string {
  const base = `f2bV_${tag.replace(/[^A-Za-z0-9_]/g, '_')}`;
  let name = base;
  for (let k = 2; taken.has(name); k++) name = `${base}_${k}`;
  return name;
}

function safeValue(tag: string, v: TagValues): string {
  // The address goes into the text: it must be one fleetban printed.
  if (!isBanTarget(v.ip)) throw new Error(`not a canonical address or network: ${JSON.stringify(v.ip.slice(0, 60))}`);
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
  if (DATA_TAGS.has(tag)) {
    // fail2ban joins the matched lines with newlines.
    const text = (v.matches ?? []).join('\n');
    return text.length > MAX_MATCHES ? text.slice(text.length - MAX_MATCHES) : text;
  }
  const f = v.fields;
  const bare = tag.slice(2);
  const value = f[tag] ?? f[bare] ?? f[bare.toLowerCase()] ?? '';
  return value.length > MAX_FIELD ? value.slice(0, MAX_FIELD) : value;
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
