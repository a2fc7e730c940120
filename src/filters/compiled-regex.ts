import { ConfigError } from '../config/config-error.js';
import type { RegexSource } from '../config/filter-reader.js';
import { ConditionalError, rewriteConditionals } from './conditional-groups.js';
import { expandFailTags, forgottenTag, leftoverTags, TagError } from './fail-tags.js';
import { localizeFlags, RegexSyntaxError, translatePythonRegex } from './python-regex.js';
import { type Clause, requiredLiterals } from './required-literal.js';
import { PASSWORD_FIELDS } from './password-scrub.js';

/** Groups that carry the failure id or are internal; not reported as fields. */
const NOT_FIELDS = new Set(['ip4', 'ip6', 'dns', 'content', 'mlfid', 'nofail', 'mlfforget', 'mlfgained', 'mlfpending', 'cidr_']);

/**
 * A RegExp whose matches report alias groups under the name they stand
 * for: a conditional group split into copies (conditional-groups.ts) has
 * `user` in one copy and `user__c1` in the other; only one takes part.
 */
class AliasRegExp extends RegExp {
  constructor(
    source: string,
    flags: string,
    private readonly aliases: ReadonlyArray<readonly [string, string]>,
  ) {
    super(source, flags);
  }

  override exec(s: string): RegExpExecArray | null {
    const m = super.exec(s);
    const g = m?.groups;
    if (g) {
      for (const [alias, name] of this.aliases) {
        const v = g[alias];
        delete g[alias];
        if (name !== '' && g[name] === undefined) g[name] = v;
      }
    }
    return m;
  }
}

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

  /** Tag-shaped text kept as text (`<NOSRV>`), as fail2ban keeps it. */
  readonly keptTags: readonly string[];

  constructor(src: RegexSource, role: RegexRole, opts: { useDns: boolean; multiline?: boolean }) {
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
    this.keptTags = leftoverTags(py);
    if (py.trim() === '') throw fail('empty regex');
    py = localizeFlags(py);
    let aliases = new Map<string, string>();
    let source: string;
    let flags: string;
    try {
      ({ pattern: py, aliases } = rewriteConditionals(py));
      ({ source, flags } = translatePythonRegex(py, { multiline: opts.multiline === true }));
    } catch (err) {
      if (err instanceof RegexSyntaxError || err instanceof ConditionalError) {
        throw fail(`broken regex: ${err.message.replace(/ of ".*$/s, '')}`);
      }
      throw err;
    }
    this.re = aliases.size > 0 ? new AliasRegExp(source, flags, [...aliases]) : new RegExp(source, flags);
    const names = new Set<string>();
    for (const m of source.matchAll(/\(\?<([A-Za-z_]\w*)>/g)) {
      const name = aliases.get(m[1]!) ?? m[1]!;
      if (name !== '') names.add(name);
    }
    this.groups = names;
    const fg: Array<{ group: string; field: string; alt: boolean }> = [];
    for (const g of names) {
      const f = fieldOfGroup(g);
      if (f !== null) fg.push({ group: g, ...f });
    }
    this.fieldGroups = fg;
    this.literals = requiredLiterals(source, flags);
  }

  /** Does it capture a failure id (an address, host name or `<F-ID>`)? */
  hasFailureId(): boolean {
    return ID_GROUPS.some((g) => this.groups.has(g));
  }
}

/**
 * The field a named group fills, or null for groups that are no field: the
 * failure id, internal groups (`_name`, content, multi-line markers, the
 * lines `<SKIPLINES>` captured) and passwords. fail2ban's `alt_user_1`
 * fills `user` when nothing else did.
 */
export function fieldOfGroup(g: string): { field: string; alt: boolean } | null {
  if (NOT_FIELDS.has(g) || g.startsWith('_') || PASSWORD_FIELDS.has(g) || /^skiplines\d+$/.test(g)) return null;
  if (g.startsWith('alt_')) return { field: g.slice(4).replace(/_\d+$/, ''), alt: true };
  return { field: g, alt: false };
}

function truncate(s: string): string {
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}
