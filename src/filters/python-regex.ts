/**
 * fail2ban's filters are Python `re` patterns. This module rewrites one into
 * an equivalent JavaScript RegExp (always compiled with the `u` flag), or
 * refuses it with a message saying which construct has no JavaScript form.
 *
 * Why `u`: Python 3 matches `str` patterns with Unicode semantics. Without
 * `u`, JavaScript's `\w` would not match `é` where Python's does, and an
 * attacker could pick a user name that slips past our copy of a filter but
 * not past fail2ban's. With `u` we can spell Python's classes exactly:
 *   \w -> [\p{L}\p{N}_]   \d -> \p{Nd}   \s -> Python's whitespace set
 *   .  -> [^\n]           (JavaScript's `.` also stops at \r, \u2028, \u2029)
 * and `\b` as a lookaround pair on that `\w`.
 *
 * Python syntax translated:
 *   (?P<name>...)    -> (?<name>...)
 *   (?P=name)        -> \k<name>
 *   (?i) (?s) (?m) (?x) (?a) (?u) at the start -> flags (x: whitespace and # comments dropped)
 *   (?i:...) (?s:...) (?x:...) scoped flags (Node 20 has no modifiers): letters
 *                       in the scope become [aA], `.` becomes [\s\S]
 *   (?#...)          -> dropped
 *   {,n}             -> {0,n}; a `{` that is no quantifier is a literal, as in Python
 *   \A \Z            -> ^ $ (no multiline flag), else lookarounds
 *   ]  first in a class is a literal, as in Python
 *   \a, octal escapes, \U........ -> their JavaScript spelling
 * Conditional groups (?(name)yes|no) are rewritten before this step
 * (conditional-groups.ts); one that reaches the translator is refused.
 * Refused, naming the construct: atomic groups (?>...), possessive quantifiers (*+ ++ ?+), \N{...}, the L flag,
 * global flags in the middle of a pattern (Python 3.11 refuses these too).
 */

export class RegexSyntaxError extends Error {
  override readonly name = 'RegexSyntaxError';
}

export interface TranslatedRegex {
  /** JavaScript source, to be compiled with `flags`. */
  source: string;
  /** Always contains `u`; may add `i`, `s`, `m`. */
  flags: string;
}

// Python's \s for str patterns: str.isspace() characters.
const PY_SPACE_RANGES = '\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_WORD_RANGES = '\\p{L}\\p{N}_';
const ASCII_WORD_RANGES = 'A-Za-z0-9_';
const ASCII_SPACE_RANGES = ' \\t-\\r';
const PY_WORD = `[${PY_WORD_RANGES}]`;
const PY_NOT_WORD = `[^${PY_WORD_RANGES}]`;
const PY_SPACE = `[${PY_SPACE_RANGES}]`;
const PY_NOT_SPACE = `[^${PY_SPACE_RANGES}]`;
const PY_WORD_BOUNDARY = `(?:(?<=${PY_WORD})(?!${PY_WORD})|(?<!${PY_WORD})(?=${PY_WORD}))`;
const PY_NOT_WORD_BOUNDARY = `(?:(?<=${PY_WORD})(?=${PY_WORD})|(?<!${PY_WORD})(?!${PY_WORD}))`;

/** Characters that must be escaped to be literal outside a class in `u` mode. */
const SYNTAX_CHARS = new Set('^$\\.*+?()[]{}|/');
/** Characters that must be escaped to be literal inside a class in `u` mode. */
const CLASS_SYNTAX_CHARS = new Set('\\]-^[');

interface Flags {
  i: boolean;
  s: boolean;
  m: boolean;
  x: boolean;
}

/** Python's one-letter character escapes and the code points they stand for. */
const SIMPLE_ESCAPES: Record<string, number> = { n: 10, r: 13, t: 9, f: 12, v: 11, a: 7 };

function hex(cp: number): string {
  return cp <= 0xffff ? `\\u${cp.toString(16).padStart(4, '0')}` : `\\u{${cp.toString(16)}}`;
}

/** A literal code point as JavaScript `u`-mode source outside (or inside) a class. */
function literal(cp: number, inClass: boolean): string {
  const ch = String.fromCodePoint(cp);
  if (cp < 0x20 || cp === 0x7f) return hex(cp);
  if (inClass ? CLASS_SYNTAX_CHARS.has(ch) : SYNTAX_CHARS.has(ch)) return '\\' + ch;
  return ch;
}

/** Both cases of a code point when they differ (for scoped (?i:...)). */
function caseVariants(cp: number): number[] {
  const ch = String.fromCodePoint(cp);
  const out = new Set<number>([cp]);
  for (const v of [ch.toLowerCase(), ch.toUpperCase()]) {
    if ([...v].length === 1) out.add(v.codePointAt(0)!);
  }
  return [...out];
}

class Translator {
  private i = 0;
  private out = '';
  private readonly flagStack: Flags[] = [];
  private flags: Flags;
  private readonly globalFlags = { i: false, s: false, m: false, a: false };
  private groupCount = 0;
  private readonly groupNames = new Set<string>();

  constructor(
    private readonly src: string,
    multiline = false,
  ) {
    this.flags = { i: false, s: false, m: false, x: false };
    // fail2ban compiles with re.MULTILINE when the filter buffers lines (maxlines > 1).
    this.globalFlags.m = multiline;
  }

  private fail(what: string, at = this.i): never {
    throw new RegexSyntaxError(`${what} at position ${at} of ${JSON.stringify(this.src)}`);
  }

  translate(): TranslatedRegex {
    this.leadingFlags();
    this.sequence(false);
    if (this.i < this.src.length) this.fail("unbalanced ')'");
    let flags = 'u';
    if (this.globalFlags.i) flags += 'i';
    if (this.globalFlags.s) flags += 's';
    if (this.globalFlags.m) flags += 'm';
    return { source: this.out, flags };
  }

  /** Global flag groups `(?ims)` at the very start apply to the whole pattern. */
  private leadingFlags(): void {
    for (;;) {
      const m = /^\(\?([aiLmsux]+)\)/.exec(this.src.slice(this.i));
      if (!m) return;
      for (const f of m[1]!) this.setGlobalFlag(f);
      this.i += m[0].length;
    }
  }

  private setGlobalFlag(f: string): void {
    switch (f) {
      case 'i':
        this.globalFlags.i = true;
        break;
      case 's':
        this.globalFlags.s = true;
        break;
      case 'm':
        this.globalFlags.m = true;
        break;
      case 'x':
        this.flags.x = true;
        break;
      case 'a':
        // ASCII classes, as Python's re.ASCII: \w is [A-Za-z0-9_], \d is [0-9].
        this.globalFlags.a = true;
        break;
      case 'u':
        break;
      default:
        this.fail(`flag (?${f}) has no JavaScript form`);
    }
  }

  private peek(k = 0): string {
    return this.src[this.i + k] ?? '';
  }

  /** Alternatives up to a ')' (when nested) or the end. */
  private sequence(nested: boolean): void {
    while (this.i < this.src.length) {
      const c = this.src[this.i]!;
      if (c === ')') {
        if (!nested) this.fail("unbalanced ')'");
        return;
      }
      if (this.flags.x && this.skipVerbose()) continue;
      switch (c) {
        case '|':
          this.out += '|';
          this.i++;
          break;
        case '(':
          this.group();
          this.quantifier();
          break;
        case '[':
          this.charClass();
          this.quantifier();
          break;
        case '\\':
          this.escape();
          this.quantifier();
          break;
        case '.':
          this.i++;
          this.out += this.flags.s || this.globalFlags.s ? '[\\s\\S]' : '[^\\n]';
          this.quantifier();
          break;
        case '^':
          this.i++;
          this.out += this.flags.m && !this.globalFlags.m ? '(?<![^\\n])' : '^';
          break;
        case '$':
          this.i++;
          this.out += this.flags.m && !this.globalFlags.m ? '(?![^\\n])' : '$';
          break;
        case '*':
        case '+':
        case '?':
          this.fail(`nothing to repeat with '${c}'`);
          break;
        case '{':
          if (this.quantifierBraces(true) !== null) this.fail("nothing to repeat with '{'");
          this.i++;
          this.out += '\\{';
          this.quantifier();
          break;
        default: {
          const cp = this.src.codePointAt(this.i)!;
          this.i += cp > 0xffff ? 2 : 1;
          this.out += this.literalOutside(cp);
          this.quantifier();
        }
      }
    }
    if (nested) this.fail("missing ')'");
  }

  /** In verbose mode whitespace and `#` comments outside classes are not part of the pattern. */
  private skipVerbose(): boolean {
    const c = this.src[this.i]!;
    if (c === '#') {
      const nl = this.src.indexOf('\n', this.i);
      this.i = nl === -1 ? this.src.length : nl + 1;
      return true;
    }
    if (/\s/.test(c)) {
      this.i++;
      return true;
    }
    return false;
  }

  private literalOutside(cp: number): string {
    if (this.flags.i && !this.globalFlags.i) {
      const v = caseVariants(cp);
      if (v.length > 1) return '[' + v.map((x) => literal(x, true)).join('') + ']';
    }
    return literal(cp, false);
  }

  /** `{m}`, `{m,}`, `{,n}`, `{m,n}` at this.i: the JavaScript spelling, or null when it is a literal `{`. */
  private quantifierBraces(peekOnly = false): string | null {
    const m = /^\{(\d*)(,?)(\d*)\}/.exec(this.src.slice(this.i, this.i + 24));
    if (!m) return null;
    const [whole, lo, comma, hi] = m as unknown as [string, string, string, string];
    if (!comma && !lo) return null; // `{}` is a literal in Python; `{,}` means {0,}
    if (lo && hi && Number(lo) > Number(hi)) this.fail('min repeat greater than max repeat');
    if (!peekOnly) this.i += whole.length;
    return comma ? `{${lo || '0'},${hi}}` : `{${lo}}`;
  }

  private quantifier(): void {
    if (this.flags.x) while (this.i < this.src.length && this.skipVerboseSpaceOnly()) {}
    const c = this.peek();
    let q: string | null = null;
    if (c === '*' || c === '+' || c === '?') {
      q = c;
      this.i++;
    } else if (c === '{') {
      q = this.quantifierBraces();
    }
    if (q === null) return;
    this.out += q;
    const n = this.peek();
    if (n === '?') {
      this.out += '?';
      this.i++;
    } else if (n === '+') {
      this.fail('possessive quantifiers have no JavaScript form');
    }
    const after = this.peek();
    if (after === '*' || after === '+' || after === '?' || (after === '{' && this.quantifierBraces(true) !== null)) {
      this.fail('multiple repeat');
    }
  }

  private skipVerboseSpaceOnly(): boolean {
    const c = this.src[this.i]!;
    if (c === '#' || /\s/.test(c)) return this.skipVerbose();
    return false;
  }

  private group(): void {
    const start = this.i;
    this.i++; // (
    if (this.peek() !== '?') {
      this.groupCount++;
      this.out += '(';
      this.body();
      return;
    }
    const rest = this.src.slice(this.i, this.i + 64);
    let m: RegExpExecArray | null;
    if ((m = /^\?P<([^>]*)>/.exec(rest))) {
      this.namedGroup(m[1]!, start);
      this.i += m[0].length;
      this.out += `(?<${m[1]}>`;
      this.body();
    } else if ((m = /^\?P=([^)]*)\)/.exec(rest))) {
      if (!this.groupNames.has(m[1]!)) this.fail(`unknown group name '${m[1]}' in (?P=${m[1]})`, start);
      this.i += m[0].length;
      this.out += `\\k<${m[1]}>`;
    } else if ((m = /^\?<([A-Za-z_]\w*)>/.exec(rest))) {
      // Not Python syntax, but unambiguous: accept it as a named group.
      this.namedGroup(m[1]!, start);
      this.i += m[0].length;
      this.out += `(?<${m[1]}>`;
      this.body();
    } else if ((m = /^\?(:|=|!|<=|<!)/.exec(rest))) {
      this.i += m[0].length;
      this.out += '(?' + m[1];
      this.body();
    } else if (rest.startsWith('?#')) {
      const end = this.src.indexOf(')', this.i);
      if (end === -1) this.fail('missing ), unterminated comment', start);
      this.i = end + 1;
      // A comment between an atom and its quantifier would bind the quantifier
      // to the comment in JavaScript; keep the atom boundary explicit.
      this.out += '(?:)';
    } else if (rest.startsWith('?(')) {
      this.fail('conditional groups (?(name)yes|no) have no JavaScript form here (see conditional-groups.ts)', start);
    } else if (rest.startsWith('?>')) {
      this.fail('atomic groups (?>...) have no JavaScript form', start);
    } else if ((m = /^\?([aiLmsux]*)(?:-([imsx]+))?(:|\))/.exec(rest))) {
      if (m[3] === ')') {
        this.fail(`global flags (?${m[1]}) not at the start of the expression`, start);
      }
      this.i += m[0].length;
      this.scopedFlags(m[1] ?? '', m[2] ?? '', start);
    } else {
      this.fail(`unknown extension (${rest.slice(0, 3)}`, start);
    }
  }

  private namedGroup(name: string, at: number): void {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) this.fail(`bad character in group name '${name}'`, at);
    if (this.groupNames.has(name)) this.fail(`redefinition of group name '${name}'`, at);
    this.groupNames.add(name);
    this.groupCount++;
  }

  private scopedFlags(on: string, off: string, at: number): void {
    const saved = this.flags;
    const next = { ...saved };
    for (const f of on) {
      if (f === 'i') next.i = true;
      else if (f === 's') next.s = true;
      else if (f === 'm') next.m = true;
      else if (f === 'x') next.x = true;
      else if (f !== 'a' && f !== 'u') this.fail(`flag (?${f}:...) has no JavaScript form`, at);
    }
    for (const f of off) {
      if (f === 'i') {
        if (this.globalFlags.i) this.fail('(?-i:...) inside a case-insensitive pattern has no JavaScript form', at);
        next.i = false;
      } else if (f === 's') {
        if (this.globalFlags.s) this.fail('(?-s:...) inside a dotall pattern has no JavaScript form', at);
        next.s = false;
      } else if (f === 'm') {
        if (this.globalFlags.m) this.fail('(?-m:...) inside a multiline pattern has no JavaScript form', at);
        next.m = false;
      } else if (f === 'x') next.x = false;
    }
    this.flagStack.push(saved);
    this.flags = next;
    this.out += '(?:';
    this.sequence(true);
    this.i++; // )
    this.out += ')';
    this.flags = this.flagStack.pop()!;
  }

  /** The inside of a group up to and including its ')'. */
  private body(): void {
    this.flagStack.push(this.flags);
    this.flags = { ...this.flags };
    this.sequence(true);
    this.i++; // )
    this.out += ')';
    this.flags = this.flagStack.pop()!;
  }

  private escape(): void {
    const start = this.i;
    const c = this.peek(1);
    if (c === '') this.fail('bad escape (end of pattern)');
    this.i += 2;
    switch (c) {
      case 'A':
        this.out += this.globalFlags.m ? '(?<![\\s\\S])' : '^';
        return;
      case 'Z':
        this.out += this.globalFlags.m ? '(?![\\s\\S])' : '$';
        return;
    }
    const ascii = this.globalFlags.a;
    switch (c) {
      case 'b':
        this.out += ascii ? '\\b' : PY_WORD_BOUNDARY;
        return;
      case 'B':
        this.out += ascii ? '\\B' : PY_NOT_WORD_BOUNDARY;
        return;
      case 'w':
        this.out += ascii ? `[${ASCII_WORD_RANGES}]` : PY_WORD;
        return;
      case 'W':
        this.out += ascii ? `[^${ASCII_WORD_RANGES}]` : PY_NOT_WORD;
        return;
      case 's':
        this.out += ascii ? `[${ASCII_SPACE_RANGES}]` : PY_SPACE;
        return;
      case 'S':
        this.out += ascii ? `[^${ASCII_SPACE_RANGES}]` : PY_NOT_SPACE;
        return;
      case 'd':
        this.out += ascii ? '[0-9]' : '\\p{Nd}';
        return;
      case 'D':
        this.out += ascii ? '[^0-9]' : '\\P{Nd}';
        return;
    }
    if (c >= '0' && c <= '9') {
      this.i = start;
      this.numericEscape(false);
      return;
    }
    const cp = this.escapedCodePoint(c, start);
    this.out += this.literalOutside(cp);
  }

  /** `\1`..`\99` are group references; `\0`, `\0oo` and three octal digits are characters. */
  private numericEscape(inClass: boolean): void {
    const start = this.i;
    const m = /^\\([0-7]{3}|0[0-7]{0,2}|[1-9]\d?)/.exec(this.src.slice(this.i, this.i + 5))!;
    const digits = m[1]!;
    this.i += m[0].length;
    if (digits[0] === '0' || digits.length === 3) {
      const cp = parseInt(digits, 8);
      if (cp > 0o377) this.fail(`octal escape value \\${digits} outside of range 0-0o377`, start);
      this.out += inClass ? literal(cp, true) : this.literalOutside(cp);
      return;
    }
    if (inClass) this.fail('bad escape (group reference in a character class)', start);
    const n = Number(digits);
    if (n > this.groupCount) this.fail(`invalid group reference ${n}`, start);
    this.out += `\\${n}`;
  }

  /** The character an escape like `\n`, `\x41`, `\u00e9`, `\.` stands for. */
  private escapedCodePoint(c: string, start: number): number {
    const simple = SIMPLE_ESCAPES[c];
    if (simple !== undefined) return simple;
    if (c === 'x' || c === 'u' || c === 'U') {
      const len = c === 'x' ? 2 : c === 'u' ? 4 : 8;
      const digits = this.src.slice(this.i, this.i + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(digits)) this.fail(`incomplete escape \\${c}${digits}`, start);
      this.i += len;
      const cp = parseInt(digits, 16);
      if (cp > 0x10ffff) this.fail(`bad escape \\${c}${digits}`, start);
      return cp;
    }
    if (c === 'N') this.fail('named Unicode escapes \\N{...} are not supported', start);
    if (/[A-Za-z]/.test(c)) this.fail(`bad escape \\${c}`, start);
    // Any other escaped character stands for itself (a surrogate pair counts as one).
    const cp = this.src.codePointAt(this.i - 1)!;
    if (cp > 0xffff) this.i++;
    return cp;
  }

  private charClass(): void {
    const start = this.i;
    this.i++; // [
    let out = '[';
    if (this.peek() === '^') {
      out += '^';
      this.i++;
    }
    const folded: string[] = [];
    const fold = this.flags.i && !this.globalFlags.i;
    let first = true;
    for (;;) {
      if (this.i >= this.src.length) this.fail('unterminated character set', start);
      const c = this.src[this.i]!;
      if (c === ']' && !first) {
        this.i++;
        break;
      }
      first = false;
      // A class escape (\d, \w, \s and negations) cannot start or end a range.
      if (c === '\\' && /[dDwWsS]/.test(this.peek(1))) {
        const e = this.peek(1);
        this.i += 2;
        const ascii = this.globalFlags.a;
        if (e === 'd') out += ascii ? '0-9' : '\\p{Nd}';
        else if (e === 'w') out += ascii ? ASCII_WORD_RANGES : PY_WORD_RANGES;
        else if (e === 's') out += ascii ? ASCII_SPACE_RANGES : PY_SPACE_RANGES;
        else out += `\\${e}`;
        if (this.peek() === '-' && this.peek(1) !== ']') this.fail(`bad character range \\${e}-`, this.i);
        continue;
      }
      const lo = this.classAtom(start);
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== '') {
        this.i++; // -
        if (this.peek() === '\\' && /[dDwWsS]/.test(this.peek(1))) this.fail('bad character range', this.i);
        const hi = this.classAtom(start);
        if (hi < lo) this.fail('bad character range', start);
        out += literal(lo, true) + '-' + literal(hi, true);
        if (fold) folded.push(...foldRange(lo, hi));
      } else {
        out += literal(lo, true);
        if (fold) for (const v of caseVariants(lo)) if (v !== lo) folded.push(literal(v, true));
      }
    }
    this.out += out + folded.join('') + ']';
  }

  /** One character of a class (literal or escaped), as a code point. */
  private classAtom(start: number): number {
    const c = this.src[this.i]!;
    if (c !== '\\') {
      const cp = this.src.codePointAt(this.i)!;
      this.i += cp > 0xffff ? 2 : 1;
      return cp;
    }
    const e = this.peek(1);
    if (e === '') this.fail('unterminated character set', start);
    if (e >= '0' && e <= '9') {
      const m = /^\\([0-7]{1,3})/.exec(this.src.slice(this.i, this.i + 4));
      if (!m) this.fail('bad escape (group reference in a character class)', this.i);
      this.i += m[0].length;
      const cp = parseInt(m[1]!, 8);
      if (cp > 0o377) this.fail('octal escape value outside of range 0-0o377', start);
      return cp;
    }
    if (e === 'b') {
      this.i += 2;
      return 8; // backspace inside a class, in both languages
    }
    const at = this.i;
    this.i += 2;
    return this.escapedCodePoint(e, at);
  }
}

/** The other-case ranges of lo..hi for ASCII letters (scoped (?i:[a-f])). */
function foldRange(lo: number, hi: number): string[] {
  const out: string[] = [];
  const clip = (a: number, b: number, shift: number) => {
    const x = Math.max(lo, a);
    const y = Math.min(hi, b);
    if (x <= y) out.push(literal(x + shift, true) + '-' + literal(y + shift, true));
  };
  clip(0x61, 0x7a, -32);
  clip(0x41, 0x5a, 32);
  return out;
}

/**
 * fail2ban's own rewrite before it compiles a regex (failregex.py): a group
 * that starts with global flags, `((?i)LOGIN|PLAIN)` or `(?:(?i)expn|vrfy)`,
 * becomes a scoped group `(?i:LOGIN|PLAIN)` (the capture is dropped, as
 * fail2ban drops it). It is a text substitution there, applied anywhere
 * except after a backslash; so it is here.
 */
export function localizeFlags(py: string): string {
  return py.replace(/(?<!\\)\((?:\?:)?(\(\?[a-z]+)\)/g, '$1:');
}

/**
 * Rewrite a Python regex as JavaScript, or throw RegexSyntaxError naming the
 * construct. The result is checked by compiling it.
 */
export function translatePythonRegex(py: string, opts: { multiline?: boolean } = {}): TranslatedRegex {
  const t = new Translator(py, opts.multiline === true).translate();
  try {
    new RegExp(t.source, t.flags);
  } catch (err) {
    throw new RegexSyntaxError(`${(err as Error).message} (translated from ${JSON.stringify(py)})`);
  }
  return t;
}
