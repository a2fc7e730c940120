import { ConfigError } from '../config/config-error.js';
import type { RegexSource } from '../config/filter-reader.js';
import { expandFailTags, forgottenTag, TagError } from './fail-tags.js';
import { RegexSyntaxError, translatePythonRegex } from './python-regex.js';
import { type Clause, requiredLiterals } from './required-literal.js';
import { PASSWORD_FIELDS } from './password-scrub.js';

/** Groups that carry the failure id or are internal; not reported as fields. */
const NOT_FIELDS = new Set(['ip4', 'ip6', 'dns', 'content', 'mlfid', 'nofail', 'mlfforget', 'mlfgained', 'mlfpending', 'cidr_']);

/** Group names fail2ban gives a failure id: the address, a host name, or any id. */
const ID_GROUPS = ['fid', 'ip4', 'ip6', 'dns', 'mlfid'];

export type RegexRole = 'failregex' | 'ignoreregex' | 'prefregex';

/**
 * One regex of a filter, compiled once: fail2ban tags expanded, translated
 * from Python to JavaScript, with the literals every match must contain.
 */
export class CompiledRegex {
  /** As configured, late tags resolved (what `fleetban regex` shows). */
  readonly text: string;
  readonly re: RegExp;
  /** Strings of which every match contains one; null when none is known. */
  readonly literals: Clause;
  /** Named groups of the compiled regex. */
  readonly groups: ReadonlySet<string>;
  /**
   * The groups reported as fields, and the field each fills: internal groups
   * (address, `_name`, content, multi-line markers) and password fields left
   * out; fail2ban's `alt_user_1` fills `user`.
   */
  readonly fieldGroups: ReadonlyArray<{ group: string; field: string; alt: boolean }>;

  constructor(src: RegexSource, role: RegexRole, opts: { useDns: boolean }) {
    this.text = src.text;
    const where = src.where;
    const fail = (what: string) =>
      new ConfigError(`${what} in ${JSON.stringify(truncate(src.text))}`, where);
    let py: string;
    try {
      py = expandFailTags(src.text, opts);
    } catch (err) {
      if (err instanceof TagError) throw fail(err.message);
      throw err;
    }
    const left = forgottenTag(py);
    if (left) throw fail(`unknown tag ${left}`);
    if (py.trim() === '') throw fail('empty regex');
    let source: string;
    let flags: string;
    try {
      ({ source, flags } = translatePythonRegex(py));
    } catch (err) {
      if (err instanceof RegexSyntaxError) throw fail(`broken regex: ${err.message.replace(/ of ".*$/s, '')}`);
      throw err;
    }
    this.re = new RegExp(source, flags);
    const names = new Set<string>();
    for (const m of source.matchAll(/\(\?<([A-Za-z_]\w*)>/g)) names.add(m[1]!);
    this.groups = names;
    const fg: Array<{ group: string; field: string; alt: boolean }> = [];
    for (const g of names) {
      if (NOT_FIELDS.has(g) || g.startsWith('_') || PASSWORD_FIELDS.has(g)) continue;
      if (g.startsWith('alt_')) fg.push({ group: g, field: g.slice(4).replace(/_\d+$/, ''), alt: true });
      else fg.push({ group: g, field: g, alt: false });
    }
    this.fieldGroups = fg;
    this.literals = requiredLiterals(source, flags);
    if (role === 'prefregex' && /\\n|\(\?m\)/.test(py)) throw fail('multi-line prefregex is not supported');
  }

  /** Does it capture a failure id (an address, host name or `<F-ID>`)? */
  hasFailureId(): boolean {
    return ID_GROUPS.some((g) => this.groups.has(g));
  }
}

function truncate(s: string): string {
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}
