import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { ConfigError, type ConfigLocation } from './config-error.js';
import { parseIni, type IniEntry } from './ini-parser.js';

/** One definition of a key: later definitions (later files) win. */
interface Definition extends IniEntry {
  /** Load order across every file of the set, for `known/`. */
  seq: number;
}

const DEFAULT = 'DEFAULT';
const INCLUDES = 'INCLUDES';
/** `[Init?family=inet6]`: fail2ban merges it into `[Init]` as keys `name?family=inet6`. */
const CONDITIONAL_RE = /^(\w+)(\?.+)$/;
const INTERP_RE = /%\(([^)]*)\)s/y;

/**
 * A set of configuration files read together with fail2ban's semantics: the
 * load order NAME.conf, NAME.d/*.conf, NAME.local, NAME.d/*.local; every file
 * followed by its own `.local`; `[INCLUDES] before/after`; `[DEFAULT]` as the
 * fallback of every section; and configparser interpolation (`%(name)s`)
 * resolved lazily in the context of the section asked for, so a `[DEFAULT]`
 * value like `%(banaction)s[port="%(port)s"]` picks up each jail's port.
 */
export class ConfigSet {
  private readonly sectionOrder: string[] = [];
  private readonly data = new Map<string, Map<string, Definition[]>>();
  private readonly readFiles: string[] = [];
  private seq = 0;

  /** Read NAME.conf, NAME.d/*.conf, NAME.local, NAME.d/*.local under `dir`. */
  static readStack(dir: string, name: string, opts: { required?: boolean } = {}): ConfigSet {
    const set = new ConfigSet();
    const base = join(dir, name);
    const files = [`${base}.conf`, ...globSorted(`${base}.d`, '.conf'), `${base}.local`, ...globSorted(`${base}.d`, '.local')];
    const present = files.filter((f) => existsSync(f));
    if (present.length === 0 && opts.required) {
      throw new ConfigError(`no ${name}.conf or ${name}.local found`, { file: dir });
    }
    for (const f of present) set.readWithIncludes(f, [], false);
    return set;
  }

  /** Read one file, followed by its `.local` sibling, with its includes. */
  static readFile(path: string): ConfigSet {
    const set = new ConfigSet();
    if (!existsSync(path)) throw new ConfigError('file not found', { file: path });
    set.readWithIncludes(path, [], true);
    return set;
  }

  /** Parse text as if it were the file `fileName` (tests, bare snippets). */
  static fromString(text: string, fileName = '<string>'): ConfigSet {
    const set = new ConfigSet();
    set.merge(parseIni(text, fileName));
    set.readFiles.push(fileName);
    return set;
  }

  /** Every file read, in load order. */
  files(): string[] {
    return [...this.readFiles];
  }

  /** Section names in order of first appearance, without DEFAULT and INCLUDES. */
  sections(): string[] {
    return this.sectionOrder.filter((s) => s !== DEFAULT && s !== INCLUDES);
  }

  hasSection(section: string): boolean {
    return this.data.has(section);
  }

  /** Option names of a section, its own first, then those it inherits from [DEFAULT]. */
  options(section: string, withDefault = true): string[] {
    const own = [...(this.data.get(section)?.keys() ?? [])];
    if (!withDefault || section === DEFAULT) return own;
    const seen = new Set(own);
    for (const k of this.data.get(DEFAULT)?.keys() ?? []) if (!seen.has(k)) own.push(k);
    return own;
  }

  has(section: string, key: string): boolean {
    return this.lookup(section, key.toLowerCase()) !== undefined;
  }

  /** Where the winning definition of section/key was written. */
  where(section: string, key: string): { file: string; line: number } | undefined {
    const d = this.lookup(section, key.toLowerCase());
    return d ? { file: d.file, line: d.line } : undefined;
  }

  /** A ConfigError pointing at section/key (at the section's first line when the key is absent). */
  error(section: string, key: string, message: string): ConfigError {
    const d = this.lookup(section, key.toLowerCase());
    const loc: ConfigLocation = { section, key };
    if (d) {
      loc.file = d.file;
      loc.line = d.line;
    } else {
      const first = this.data.get(section)?.values().next().value?.[0];
      if (first) loc.file = first.file;
    }
    return new ConfigError(message, loc);
  }

  /** The value as written, without interpolation. */
  getRaw(section: string, key: string): string | undefined {
    return this.lookup(section, key.toLowerCase())?.value;
  }

  /**
   * The interpolated value of section/key, or undefined when neither the
   * section nor [DEFAULT] defines it. `vars` win over the files for this
   * lookup (a jail's parameters passed to a filter or action).
   */
  get(section: string, key: string, vars?: Record<string, string>): string | undefined {
    const k = key.toLowerCase();
    if (vars && Object.hasOwn(vars, k)) return vars[k];
    const d = this.lookup(section, k);
    if (!d) return undefined;
    return this.interpolate(d, section, vars, []);
  }

  /**
   * The value section/key had before its last definition (fail2ban's
   * `known/`), interpolated; undefined when it had none. A `.local` uses it to
   * extend a stock value: `failregex = %(known/failregex)s` plus lines.
   */
  known(section: string, key: string, vars?: Record<string, string>): string | undefined {
    const k = key.toLowerCase();
    const last = this.lookup(section, k);
    if (!last) return undefined;
    const prev = this.lookupBefore(section, k, last.seq);
    return prev ? this.interpolate(prev, section, vars, []) : undefined;
  }

  /** Add a definition that wins over everything read so far. */
  set(section: string, key: string, value: string, where: { file: string; line: number } = { file: '<set>', line: 0 }): void {
    this.merge([{ section, key: key.toLowerCase(), value, file: where.file, line: where.line }]);
  }

  // ---- reading ---------------------------------------------------------

  private readWithIncludes(path: string, seen: string[], withLocal: boolean): void {
    if (seen.includes(path)) return; // an include loop: fail2ban skips it too
    this.readOne(path, [...seen, path]);
    if (withLocal && path.endsWith('.conf')) {
      const local = path.slice(0, -'.conf'.length) + '.local';
      if (existsSync(local)) this.readOne(local, [...seen, path, local]);
    }
  }

  private readOne(path: string, seen: string[]): void {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file: path });
    }
    const entries = parseIni(text, path);
    const includes = entries.filter((e) => e.section === INCLUDES);
    const own = entries.filter((e) => e.section !== INCLUDES);
    const list = (key: string) =>
      includes
        .filter((e) => e.key === key)
        .flatMap((e) =>
          e.value
            .split('\n')
            .map((v) => v.trim())
            .filter(Boolean)
            .map((v) => ({ path: isAbsolute(v) ? v : join(dirname(path), v), entry: e })),
        );
    for (const inc of list('before')) this.include(inc.path, inc.entry, seen);
    this.merge(own);
    this.readFiles.push(path);
    for (const inc of list('after')) this.include(inc.path, inc.entry, seen);
  }

  private include(path: string, from: IniEntry, seen: string[]): void {
    if (!existsSync(path)) {
      // fail2ban's own files name hooks that usually do not exist (common.conf:
      // `after = common.local`); fail2ban skips them, and so do we. A missing
      // .conf is a mistake worth stopping for.
      if (path.endsWith('.local')) return;
      throw new ConfigError(`included file not found: ${basename(path)}`, {
        file: from.file,
        line: from.line,
        section: INCLUDES,
        key: from.key,
      });
    }
    this.readWithIncludes(path, seen, true);
  }

  private merge(entries: IniEntry[]): void {
    for (const e of entries) {
      let section = e.section;
      let key = e.key;
      const cond = CONDITIONAL_RE.exec(section);
      if (cond) {
        section = cond[1]!;
        key = key + cond[2]!;
      }
      let sec = this.data.get(section);
      if (!sec) {
        sec = new Map();
        this.data.set(section, sec);
        this.sectionOrder.push(section);
      }
      let defs = sec.get(key);
      if (!defs) sec.set(key, (defs = []));
      defs.push({ ...e, section, key, seq: this.seq++ });
    }
  }

  // ---- lookup and interpolation -------------------------------------------

  private lookup(section: string, key: string): Definition | undefined {
    const own = this.data.get(section)?.get(key);
    if (own && own.length) return own[own.length - 1];
    const def = this.data.get(DEFAULT)?.get(key);
    return def && def.length ? def[def.length - 1] : undefined;
  }

  /** The last definition of section/key (else DEFAULT's) loaded before `seq`. */
  private lookupBefore(section: string, key: string, seq: number): Definition | undefined {
    for (const s of section === DEFAULT ? [DEFAULT] : [section, DEFAULT]) {
      const defs = this.data.get(s)?.get(key);
      if (!defs) continue;
      for (let i = defs.length - 1; i >= 0; i--) if (defs[i]!.seq < seq) return defs[i];
    }
    return undefined;
  }

  private interpolate(d: Definition, section: string, vars: Record<string, string> | undefined, stack: string[]): string {
    const value = d.value;
    if (value.indexOf('%') === -1) return value;
    const id = `${section}\u0000${d.key}\u0000${d.seq}`;
    if (stack.includes(id)) {
      const path = [...stack, id].map((s) => s.split('\u0000')[1]).join(' -> ');
      throw new ConfigError(`interpolation loops: ${path}`, { file: d.file, line: d.line, section, key: d.key });
    }
    const inner = [...stack, id];
    let out = '';
    let i = 0;
    while (i < value.length) {
      const p = value.indexOf('%', i);
      if (p === -1) {
        out += value.slice(i);
        break;
      }
      out += value.slice(i, p);
      const next = value[p + 1];
      if (next === '%') {
        out += '%';
        i = p + 2;
        continue;
      }
      INTERP_RE.lastIndex = p;
      const m = INTERP_RE.exec(value);
      if (!m) {
        throw new ConfigError(
          `'%' must be followed by '%' or '(name)s' (write %% for a literal percent, as in datepattern = %%Y-%%m-%%d)`,
          { file: d.file, line: d.line, section, key: d.key },
        );
      }
      out += this.resolveName(m[1]!.toLowerCase(), d, section, vars, inner);
      i = p + m[0].length;
    }
    return out;
  }

  private resolveName(name: string, d: Definition, section: string, vars: Record<string, string> | undefined, stack: string[]): string {
    const where = { file: d.file, line: d.line, section, key: d.key };
    if (vars && Object.hasOwn(vars, name)) return vars[name]!;
    if (name === '__name__') return section;
    const slash = name.indexOf('/');
    if (slash !== -1) {
      const scope = name.slice(0, slash);
      const opt = name.slice(slash + 1);
      if (scope === 'known') {
        // The value this option had before this definition was read; for another
        // option, fail2ban falls back to its current value.
        const prev = this.lookupBefore(section, opt, d.seq) ?? (opt === d.key ? undefined : this.lookup(section, opt));
        if (prev) return this.interpolate(prev, section, vars, stack);
        throw new ConfigError(`%(${name})s: no earlier value of "${opt}"`, where);
      }
      const target = scope === 'default' ? DEFAULT : this.findSection(name.slice(0, slash));
      const def = target ? this.lookup(target, opt) : undefined;
      if (!def || !target) throw new ConfigError(`%(${name})s refers to an option that is not defined`, where);
      return this.interpolate(def, target, vars, stack);
    }
    const def = this.lookup(section, name);
    if (!def) throw new ConfigError(`%(${name})s refers to an option that is not defined`, where);
    return this.interpolate(def, section, vars, stack);
  }

  /** Section names are case-sensitive, but `%(init/x)s` arrives lower-cased. */
  private findSection(lower: string): string | undefined {
    return this.sectionOrder.find((s) => s.toLowerCase() === lower);
  }
}

function globSorted(dir: string, ext: string): string[] {
  try {
    if (!statSync(dir).isDirectory()) return [];
    return readdirSync(dir)
      .filter((f) => f.endsWith(ext))
      .sort()
      .map((f) => join(dir, f));
  } catch {
    return [];
  }
}
