import { ConfigError } from './config-error.js';

/** One `key = value` as written in one file. */
export interface IniEntry {
  section: string;
  key: string;
  /** Value with continuation lines joined by "\n", comments removed. */
  value: string;
  file: string;
  line: number;
}

const SECTION_RE = /^\[([^\]]+)\]\s*(?:[;#].*)?$/;
const OPTION_RE = /^([^=:]*?)\s*[=:]\s*(.*)$/;

/**
 * Inline comments: Python's configparser (as fail2ban configures it) ends a
 * value at a `;` that follows whitespace. `#` is never an inline comment,
 * because regexes contain it.
 */
function stripInlineComment(v: string): string {
  const m = /\s;/.exec(v);
  return (m ? v.slice(0, m.index) : v).trimEnd();
}

/**
 * Parse one file's text into entries, with Python configparser's rules as
 * fail2ban uses them: `[section]`, `key = value` or `key: value` (the first
 * `=` or `:` separates), indented lines continue the value (that is how
 * `failregex` becomes a list), full-line `#` and `;` comments anywhere (also
 * between continuation lines), blank lines inside a value kept only when an
 * indented line follows. Option names are lower-cased, as Python does.
 */
export function parseIni(text: string, file: string): IniEntry[] {
  const entries: IniEntry[] = [];
  let section: string | undefined;
  let current: IniEntry | undefined;
  let pendingBlank = 0;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const lineNo = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '') {
      if (current) pendingBlank++;
      continue;
    }
    if (trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    const indented = raw.length > 0 && (raw[0] === ' ' || raw[0] === '\t');
    if (indented && current) {
      const more = stripInlineComment(trimmed);
      current.value += '\n'.repeat(pendingBlank + 1) + more;
      pendingBlank = 0;
      continue;
    }
    pendingBlank = 0;
    const sm = SECTION_RE.exec(trimmed);
    if (sm && !indented) {
      section = sm[1]!.trim();
      current = undefined;
      continue;
    }
    const om = OPTION_RE.exec(trimmed);
    if (!om || om[1] === '') {
      throw new ConfigError(`cannot read this line: ${JSON.stringify(truncate(trimmed))}`, {
        file,
        line: lineNo,
        ...(section !== undefined ? { section } : {}),
      });
    }
    if (section === undefined) {
      throw new ConfigError(`"${om[1]}" comes before any [section] header`, { file, line: lineNo });
    }
    current = {
      section,
      key: om[1]!.toLowerCase(),
      value: stripInlineComment(om[2]!),
      file,
      line: lineNo,
    };
    entries.push(current);
  }
  // A value's leading empty first line (`failregex =` then indented lines) is dropped.
  for (const e of entries) {
    if (e.value.startsWith('\n')) e.value = e.value.replace(/^\n+/, '');
  }
  return entries;
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
