import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { ConfigError, type ConfigLocation } from './config-error.js';
import { ConfigSet } from './config-set.js';
import { findFilterFolder, isFile } from './filter-search-path.js';
import { substituteTags } from './tags.js';

/**
 * A filter.d file read and resolved, before any regex is compiled: what
 * fail2ban's filterreader hands to its server. Every regex keeps where it
 * was written, so a broken one is reported with file, line and key.
 */
export interface FilterDefinition {
  /** The filter's name: the file name without `.conf`/`.local`, or `regex` for a bare regex. */
  name: string;
  /** Files read, in load order (empty for a bare regex). */
  files: string[];
  failregex: RegexSource[];
  ignoreregex: RegexSource[];
  prefregex?: RegexSource;
  /** One pattern per line; undefined means fail2ban's default formats anywhere in the line. */
  datepattern?: string;
  /** fail2ban's `journalmatch`: OR-ed groups of AND-ed `FIELD=value` terms. */
  journalmatch: string[][];
  maxlines: number;
  /** `file`, `short`, `journal` or `rfc5424` (common.conf's prefix variants). */
  logtype: string;
  /** `usedns = yes` lets `<HOST>` match host names (never resolved here). */
  usedns: string;
  /** The jail's `logtimezone`, for stamps without a zone. */
  logtimezone?: string;
  /** Every resolved option of [Definition] and [Init] plus the parameters, for tools that show them. */
  options: Record<string, string>;
  /** Where each [Init] option is written (file, line), for errors about options the filter stage reads. */
  optionWhere?: Record<string, ConfigLocation>;
}

export interface RegexSource {
  /** The regex with late tags resolved, fail2ban tags (`<HOST>`) still in it. */
  text: string;
  where: ConfigLocation;
}

/** Options fail2ban's filter reader takes from [Definition] (filterreader.py). */
const DEFINITION_KEYS = ['usedns', 'prefregex', 'ignoreregex', 'failregex', 'maxlines', 'datepattern', 'journalmatch'];

/** Regex tags, never looked up as options (`<HOST>`, `<F-USER>`, `<SKIPLINES>`, ...). */
function isRegexTag(name: string): boolean {
  return /^\/?F-/.test(name) || /^[A-Z][A-Z0-9_]*\/?$/.test(name);
}

/**
 * Resolve a filter from a ConfigSet with fail2ban's rules:
 * - jail parameters (`courier-auth[mode=aggressive]`) win over [Init], and
 *   are seen by `%(name)s` interpolation;
 * - [Init] values are also available as `<known/name>`;
 * - late tags `<name>` in every option are replaced by the option of that
 *   name (parameters, [Init], [Definition], [DEFAULT]), by `<section/name>`,
 *   repeatedly, so `<mdre-<mode>>` and `<lt_<logtype>/__prefix_line>` work.
 */
export function resolveFilter(set: ConfigSet, name: string, params: Record<string, string> = {}): FilterDefinition {
  const p: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) p[k.toLowerCase()] = v;

  const init: Record<string, string> = { ...p };
  const optionWhere: Record<string, ConfigLocation> = {};
  if (set.hasSection('Init')) {
    for (const opt of set.options('Init', false)) {
      if (opt === '__name__') continue;
      const w = set.where('Init', opt);
      if (w) optionWhere[opt] = { file: w.file, line: w.line, section: 'Init', key: opt };
      // fail2ban reads [Init] without the parameters, so <known/x> is the file's value.
      const v = set.get('Init', opt);
      if (v === undefined) continue;
      if (!opt.startsWith('known/')) init[`known/${opt}`] = v;
      if (!(opt in init)) init[opt] = v;
    }
  }
  const hasDef = set.hasSection('Definition');
  const combined: Record<string, string> = {};
  const rawWhere: Record<string, ConfigLocation> = {};
  for (const key of DEFINITION_KEYS) {
    const v = hasDef ? set.get('Definition', key, p) : set.get('DEFAULT', key, p);
    if (v !== undefined) combined[key] = v;
    const w = set.where('Definition', key);
    if (w) rawWhere[key] = { file: w.file, line: w.line, section: 'Definition', key };
  }
  // logtype and mode steer common.conf's prefixes: read them like the others.
  for (const key of ['logtype', 'mode', 'logtimezone']) {
    const v = set.get('Definition', key, p);
    if (v !== undefined) combined[key] = v;
  }
  Object.assign(combined, init);

  const lookupCache = new Map<string, string | undefined>();
  const lookup = (tag: string): string | undefined => {
    if (isRegexTag(tag)) return undefined;
    const key = tag.toLowerCase();
    if (Object.hasOwn(combined, key)) return combined[key];
    if (lookupCache.has(key)) return lookupCache.get(key);
    let v: string | undefined;
    const slash = key.indexOf('/');
    if (slash > 0) {
      const section = set.sections().find((s) => s.toLowerCase() === key.slice(0, slash));
      if (section) v = set.get(section, key.slice(slash + 1), p);
      else if (key.startsWith('default/')) v = set.get('DEFAULT', key.slice(8), p);
    } else {
      v = set.get('Definition', key, p);
    }
    lookupCache.set(key, v);
    return v;
  };

  const resolved: Record<string, string> = {};
  for (const [key, value] of Object.entries(combined)) {
    resolved[key] = substituteTags(value, lookup, rawWhere[key] ?? { file: set.files()[0], section: 'Definition', key });
  }

  const regexList = (key: string): RegexSource[] => {
    const v = resolved[key];
    if (v === undefined) return [];
    const base = rawWhere[key] ?? { file: set.files()[0], section: 'Definition', key };
    const out: RegexSource[] = [];
    for (const line of v.split('\n')) {
      if (line.trim() === '') continue;
      out.push(locatedRegex(line, set.files(), base));
    }
    return out;
  };

  const maxRaw = resolved.maxlines;
  let maxlines = 1;
  if (maxRaw !== undefined && maxRaw.trim() !== '') {
    maxlines = Number(maxRaw.trim());
    if (!Number.isInteger(maxlines) || maxlines < 1) {
      throw new ConfigError(`not a positive whole number: ${JSON.stringify(maxRaw)}`, rawWhere.maxlines ?? { key: 'maxlines' });
    }
  }
  const pref = resolved.prefregex?.trim();
  const def: FilterDefinition = {
    name,
    files: set.files(),
    failregex: regexList('failregex'),
    ignoreregex: regexList('ignoreregex'),
    datepattern: resolved.datepattern?.trim() || undefined,
    journalmatch: parseJournalMatch(resolved.journalmatch ?? '', rawWhere.journalmatch ?? { key: 'journalmatch' }),
    maxlines,
    logtype: (resolved.logtype ?? 'file').trim().toLowerCase(),
    usedns: (resolved.usedns ?? 'warn').trim().toLowerCase(),
    options: resolved,
    optionWhere,
  };
  if (pref) def.prefregex = { text: pref, where: rawWhere.prefregex ?? { key: 'prefregex' } };
  if (resolved.logtimezone?.trim()) def.logtimezone = resolved.logtimezone.trim();
  if (def.failregex.length === 0) {
    throw new ConfigError('no failregex: a filter needs at least one', rawWhere.failregex ?? {
      file: set.files()[0],
      section: 'Definition',
      key: 'failregex',
    });
  }
  return def;
}

/**
 * A regex line with the place it is written, found when first asked for
 * (only an error message needs it). After interpolation a failregex line
 * may come from anywhere: `failregex = %(cmnfailre)s` expands to the lines
 * of `cmnfailre`, `<mdre-<mode>>` to those of `mdre-normal`. The source is
 * the line of the filter's files whose literal text (what is left without
 * its `%(name)s` and `<tag>` references) appears in the regex, in order, and
 * is the longest: that is the line where the regex is really written.
 */
function locatedRegex(text: string, files: string[], base: ConfigLocation): RegexSource {
  let where: ConfigLocation | undefined;
  return {
    text,
    get where(): ConfigLocation {
      where ??= findRegexLine(text, files) ?? base;
      return where;
    },
  };
}

function findRegexLine(text: string, files: string[]): ConfigLocation | undefined {
  let best: ConfigLocation | undefined;
  let bestScore = 0;
  for (const file of files) {
    let lines: string[];
    try {
      lines = readFileSync(file, 'utf8').split(/\r?\n/);
    } catch {
      continue;
    }
    let section = '';
    let key = '';
    lines.forEach((raw, i) => {
      const t = raw.trim();
      if (t === '' || t.startsWith('#') || t.startsWith(';')) return;
      let value = t;
      if (!/^[ \t]/.test(raw)) {
        const sm = /^\[([^\]]+)\]/.exec(t);
        if (sm) {
          section = sm[1]!.trim();
          key = '';
          return;
        }
        const om = /^([^=:]*?)\s*[=:]\s*(.*)$/.exec(t);
        if (!om) return;
        key = om[1]!.toLowerCase();
        value = om[2]!;
      }
      const score = literalScore(value, text);
      if (score > bestScore) {
        bestScore = score;
        best = { file, line: i + 1, section, key };
      }
    });
  }
  return best;
}

/** Length of the literal text of `raw` (references removed) when all of it occurs in `text`, in order; else 0. */
function literalScore(raw: string, text: string): number {
  let s = raw.replace(/%\([^)]*\)s/g, '\u0000');
  for (let prev = ''; prev !== s; ) {
    prev = s;
    s = s.replace(/<[^<>\s]*>/g, '\u0000');
  }
  let at = 0;
  let score = 0;
  for (const piece of s.split('\u0000')) {
    if (piece === '') continue;
    const i = text.indexOf(piece, at);
    if (i === -1) return 0;
    at = i + piece.length;
    score += piece.length;
  }
  return score;
}

/**
 * `journalmatch` as fail2ban reads it: each line is split like a shell
 * command line; `+` between terms starts an alternative (OR), terms side by
 * side must all hold (AND), and separate lines are alternatives too.
 */
export function parseJournalMatch(value: string, where: ConfigLocation = {}): string[][] {
  const groups: string[][] = [];
  for (const line of value.split('\n')) {
    const words = shellWords(line, where);
    if (words.length === 0) continue;
    let cur: string[] = [];
    for (const w of words) {
      if (w === '+') {
        if (cur.length) groups.push(cur);
        cur = [];
        continue;
      }
      if (!/^[A-Z0-9_]+=/.test(w)) throw new ConfigError(`not a FIELD=value journal match: ${JSON.stringify(w)}`, where);
      cur.push(w);
    }
    if (cur.length) groups.push(cur);
  }
  return groups;
}

/** Split like POSIX shell words: quotes and backslashes, no expansion. */
function shellWords(line: string, where: ConfigLocation): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let q: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q) {
      if (c === q) q = null;
      else if (c === '\\' && q === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      q = c;
      has = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (q) throw new ConfigError(`unterminated quote in journalmatch ${JSON.stringify(line)}`, where);
  if (has) out.push(cur);
  return out;
}

/**
 * Read a filter for a spec as a jail or `fleetban regex` names it:
 * - `name` or `name[key=value, ...]`: `filter.d/name.conf` (+ `.local`,
 *   `name.d/`) under `confDir`, else under the first `filter_fallback`
 *   folder that has it (filter-search-path.ts: /etc/fail2ban by default);
 * - a path to any fail2ban filter file, optionally with `[key=value]`; its
 *   `[INCLUDES]` are read relative to its folder.
 * Returns undefined when the spec names no file (the caller may treat it as
 * a bare regex).
 */
export function readFilterFile(confDir: string, name: string, params: Record<string, string>): FilterDefinition | undefined {
  if (looksLikePath(name) && isFile(name)) {
    const set = ConfigSet.readFile(name);
    return resolveFilter(set, basename(name).replace(/\.(conf|local)$/, ''), params);
  }
  if (!/^[\w.@+-]+$/.test(name)) return undefined;
  const dir = findFilterFolder(confDir, name);
  if (dir === undefined) return undefined;
  const set = ConfigSet.readStack(dir, name, { required: true });
  return resolveFilter(set, name, params);
}

function looksLikePath(s: string): boolean {
  return s.includes('/') || s.endsWith('.conf') || s.endsWith('.local');
}
