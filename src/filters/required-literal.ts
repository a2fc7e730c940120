/**
 * The cheap pre-check of the hot path. Most log lines match none of a
 * filter's regexes; finding that out with `indexOf` of a fixed string is
 * many times cheaper than running the regexes. This module reads a
 * JavaScript regex (`u` syntax, as python-regex.ts writes it) and finds a
 * set of strings such that every text the regex matches contains at least
 * one of them: a necessary condition, so a line without any of them cannot
 * match and is skipped without running the regex.
 *
 * The analysis is deliberately simple and errs towards "no literal": runs of
 * literal characters in the parts of the pattern that every match goes
 * through (not under `?`, `*`, `{0,n}`), and alternatives only when every
 * branch has a literal.
 */

/** Strings of which any match contains at least one; null when none can be told. */
export type Clause = string[] | null;

interface Info {
  /** The one string this node always matches, or null. */
  exact: string | null;
  /** The best necessary clause inside this node. */
  req: Clause;
}

function score(c: Clause): number {
  if (!c || c.length === 0) return -1;
  let min = Infinity;
  for (const s of c) min = Math.min(min, s.length);
  // A longer shortest literal rejects more lines; more alternatives cost more indexOf calls.
  return min * 8 - c.length;
}

function better(a: Clause, b: Clause): Clause {
  return score(b) > score(a) ? b : a;
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', f: '\f', v: '\v', '0': '\0' };

class Analyzer {
  private i = 0;
  constructor(private readonly s: string) {}

  run(): Info {
    const info = this.alternation();
    return info;
  }

  private alternation(): Info {
    const branches: Info[] = [this.sequence()];
    while (this.s[this.i] === '|') {
      this.i++;
      branches.push(this.sequence());
    }
    if (branches.length === 1) return branches[0]!;
    const first = branches[0]!.exact;
    const exact = first !== null && branches.every((b) => b.exact === first) ? first : null;
    let req: string[] | null = [];
    for (const b of branches) {
      const c = b.exact !== null && b.exact.length > 0 ? better([b.exact], b.req) : b.req;
      if (!c) {
        req = null;
        break;
      }
      req.push(...c);
    }
    return { exact, req: req ? [...new Set(req)] : null };
  }

  private sequence(): Info {
    let run = '';
    let allExact = true;
    let best: Clause = null;
    const flush = () => {
      if (run.length > 0) best = better(best, [run]);
      run = '';
    };
    while (this.i < this.s.length && this.s[this.i] !== '|' && this.s[this.i] !== ')') {
      const atom = this.quantified();
      if (atom.exact !== null) {
        run += atom.exact;
      } else {
        allExact = false;
        flush();
        best = better(best, atom.req);
      }
    }
    const exact = allExact ? run : null;
    flush();
    return { exact, req: best };
  }

  private quantified(): Info {
    const atom = this.atom();
    const q = /^(?:([*+?])|\{(\d+)(,?)(\d*)\})\??/.exec(this.s.slice(this.i, this.i + 24));
    if (!q) return atom;
    this.i += q[0].length;
    let min: number;
    let max: number;
    if (q[1]) {
      min = q[1] === '+' ? 1 : 0;
      max = q[1] === '?' ? 1 : Infinity;
    } else {
      min = Number(q[2]);
      max = q[3] ? (q[4] ? Number(q[4]) : Infinity) : min;
    }
    if (min === 0) return { exact: max === 0 ? '' : null, req: null };
    const req = atom.exact !== null && atom.exact.length > 0 ? better([atom.exact], atom.req) : atom.req;
    if (atom.exact !== null && min === max && min <= 16) return { exact: atom.exact.repeat(min), req };
    return { exact: null, req };
  }

  private atom(): Info {
    const c = this.s[this.i]!;
    switch (c) {
      case '(':
        return this.group();
      case '[':
        return this.charClass();
      case '\\':
        return this.escape();
      case '^':
      case '$':
        this.i++;
        return { exact: '', req: null };
      case '.':
        this.i++;
        return { exact: null, req: null };
      default: {
        const cp = this.s.codePointAt(this.i)!;
        const ch = String.fromCodePoint(cp);
        this.i += ch.length;
        return { exact: ch, req: null };
      }
    }
  }

  private group(): Info {
    const rest = this.s.slice(this.i, this.i + 4);
    let look = false;
    if (rest.startsWith('(?=') || rest.startsWith('(?!')) {
      this.i += 3;
      look = true;
    } else if (rest.startsWith('(?<=') || rest.startsWith('(?<!')) {
      this.i += 4;
      look = true;
    } else if (rest.startsWith('(?:')) {
      this.i += 3;
    } else if (rest.startsWith('(?<')) {
      this.i = this.s.indexOf('>', this.i) + 1;
    } else {
      this.i += 1;
    }
    const inner = this.alternation();
    this.i++; // )
    // A lookaround consumes nothing: it neither adds to nor breaks a run.
    return look ? { exact: '', req: null } : inner;
  }

  private charClass(): Info {
    const start = this.i;
    this.i++;
    let body = '';
    while (this.i < this.s.length && this.s[this.i] !== ']') {
      if (this.s[this.i] === '\\') {
        body += this.s.slice(this.i, this.i + 2);
        this.i += 2;
      } else {
        body += this.s[this.i];
        this.i++;
      }
    }
    this.i++; // ]
    // A class of one plain character is that character.
    if (body.length === 1 && body !== '^') return { exact: body, req: null };
    if (body.length === 2 && body[0] === '\\' && /[^\w]/.test(body[1]!)) return { exact: body[1]!, req: null };
    void start;
    return { exact: null, req: null };
  }

  private escape(): Info {
    const e = this.s[this.i + 1] ?? '';
    const rest = this.s.slice(this.i);
    let m: RegExpExecArray | null;
    if ((m = /^\\x([0-9a-fA-F]{2})/.exec(rest))) {
      this.i += m[0].length;
      return { exact: String.fromCharCode(parseInt(m[1]!, 16)), req: null };
    }
    if ((m = /^\\u\{([0-9a-fA-F]+)\}/.exec(rest)) || (m = /^\\u([0-9a-fA-F]{4})/.exec(rest))) {
      this.i += m[0].length;
      return { exact: String.fromCodePoint(parseInt(m[1]!, 16)), req: null };
    }
    if ((m = /^\\[pPk][{<][^}>]*[}>]/.exec(rest))) {
      this.i += m[0].length;
      return { exact: null, req: null };
    }
    if ((m = /^\\\d+/.exec(rest)) && e !== '0') {
      this.i += m[0].length;
      return { exact: null, req: null };
    }
    this.i += 2;
    if (ESCAPES[e] !== undefined) return { exact: ESCAPES[e]!, req: null };
    if (/[bB]/.test(e)) return { exact: '', req: null };
    if (/[A-Za-z]/.test(e)) return { exact: null, req: null };
    return { exact: e, req: null };
  }
}

/**
 * The best set of strings of which every match of `source` contains one, or
 * null. With the `i` flag only strings without letters are usable, so
 * such patterns mostly get null.
 */
export function requiredLiterals(source: string, flags: string): Clause {
  let info: Info;
  try {
    info = new Analyzer(source).run();
  } catch {
    return null;
  }
  let c: Clause = info.exact !== null && info.exact.length > 0 ? better([info.exact], info.req) : info.req;
  if (!c) return null;
  if (flags.includes('i') && c.some((s) => s.toLowerCase() !== s.toUpperCase())) return null;
  c = c.filter((s) => s.length > 0);
  return c.length ? c : null;
}

const WORD_START = /^[^\p{L}\p{N}_]+/u;

/**
 * Drop leading non-word characters from each literal. When the date cut out
 * of a line is preceded by at most two non-word characters, a literal that
 * starts with a word character cannot straddle the cut, so finding it in the
 * raw line is still a necessary condition. A literal left empty makes the
 * clause useless (null).
 */
export function wordStarted(c: Clause): Clause {
  if (!c) return null;
  const out: string[] = [];
  for (const s of c) {
    const t = s.replace(WORD_START, '');
    if (t.length === 0) return null;
    out.push(t);
  }
  return out;
}
