/**
 * `bantime.formula` and `bantime.factor` are Python expressions in fail2ban
 * (it hands them to `eval`). Administrators copy them from fail2ban's
 * jail.conf, so fleetban reads the same expressions, but with a small
 * interpreter of its own that knows only arithmetic and a fixed list of
 * names: nothing in a configuration file can run code here.
 *
 * Understood: numbers; `ban.Time` (the jail's bantime, seconds),
 * `ban.Count` (earlier bans of the address), `banFactor`; the operators
 * `+ - * / // % ** << >> & | ^ ~`, comparisons (chained as in Python),
 * `and or not`, `x if cond else y`, parentheses; and the functions
 * `math.exp log log2 log10 sqrt pow floor ceil`, `math.e`, `math.pi`,
 * `min max abs float int round pow`. For example fail2ban's default
 *
 *   ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor
 *
 * and its "more aggressive" example
 *
 *   ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)
 */

export interface FormulaInput {
  /** ban.Time: the jail's bantime, seconds. */
  time: number;
  /** ban.Count: how many times the address was banned before. */
  count: number;
  /** banFactor: `bantime.factor`. */
  factor: number;
}

export type Formula = (input: FormulaInput) => number;

/** A mistake in an expression: `position` is the offset in the text. */
export class FormulaError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at character ${position + 1}`);
  }
}

type Node = (env: FormulaInput) => number;

const VARIABLES: Record<string, Node> = {
  'ban.time': (e) => e.time,
  'ban.count': (e) => e.count,
  banfactor: (e) => e.factor,
  'math.e': () => Math.E,
  'math.pi': () => Math.PI,
  true: () => 1,
  false: () => 0,
};

/** Python's `int()` truncates toward zero. */
const FUNCTIONS: Record<string, { min: number; max: number; fn: (...a: number[]) => number }> = {
  'math.exp': { min: 1, max: 1, fn: Math.exp },
  'math.log': { min: 1, max: 2, fn: (x, base) => (base === undefined ? Math.log(x) : Math.log(x) / Math.log(base)) },
  'math.log2': { min: 1, max: 1, fn: Math.log2 },
  'math.log10': { min: 1, max: 1, fn: Math.log10 },
  'math.sqrt': { min: 1, max: 1, fn: Math.sqrt },
  'math.pow': { min: 2, max: 2, fn: Math.pow },
  'math.floor': { min: 1, max: 1, fn: Math.floor },
  'math.ceil': { min: 1, max: 1, fn: Math.ceil },
  pow: { min: 2, max: 2, fn: Math.pow },
  min: { min: 1, max: 16, fn: Math.min },
  max: { min: 1, max: 16, fn: Math.max },
  abs: { min: 1, max: 1, fn: Math.abs },
  float: { min: 1, max: 1, fn: (x) => x },
  int: { min: 1, max: 1, fn: Math.trunc },
  round: { min: 1, max: 2, fn: (x, d) => pyRound(x, d ?? 0) },
};

/** Python 3 rounds halves to even. */
function pyRound(x: number, digits: number): number {
  const m = 10 ** digits;
  const v = x * m;
  const r = Math.round(v);
  const halfway = Math.abs(v % 1) === 0.5;
  return (halfway && r % 2 !== 0 ? r - 1 : r) / m;
}

/** Python's `%` takes the sign of the divisor. */
function pyMod(a: number, b: number): number {
  const r = a % b;
  return r !== 0 && r < 0 !== b < 0 ? r + b : r;
}

/** `a << b` on whole numbers of any size (JavaScript's `<<` stops at 32 bits). */
function shiftLeft(a: number, b: number): number {
  return Math.trunc(a) * 2 ** Math.trunc(b);
}

const truthy = (v: number): boolean => v !== 0 && !Number.isNaN(v);

interface Token {
  kind: 'num' | 'name' | 'op' | 'end';
  text: string;
  value: number;
  pos: number;
}

const OPERATORS = ['**', '//', '<<', '>>', '<=', '>=', '==', '!=', '+', '-', '*', '/', '%', '&', '|', '^', '~', '<', '>', '(', ')', ','];

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      i++;
      continue;
    }
    const num = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i));
    if (num) {
      out.push({ kind: 'num', text: num[0], value: Number(num[0]), pos: i });
      i += num[0].length;
      continue;
    }
    // Dotted names (ban.Time, math.exp) are one token: there are no objects here.
    const name = /^[A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*/.exec(src.slice(i));
    if (name) {
      out.push({ kind: 'name', text: name[0].replace(/\s+/g, ''), value: 0, pos: i });
      i += name[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (!op) throw new FormulaError(`unexpected ${JSON.stringify(c)}`, i);
    out.push({ kind: 'op', text: op, value: 0, pos: i });
    i += op.length;
  }
  out.push({ kind: 'end', text: '', value: 0, pos: src.length });
  return out;
}

class Parser {
  private i = 0;
  private depth = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.i]!;
  }

  private isOp(text: string): boolean {
    const t = this.peek();
    return t.kind === 'op' && t.text === text;
  }

  private isWord(word: string): boolean {
    const t = this.peek();
    return t.kind === 'name' && t.text === word;
  }

  private expect(text: string): void {
    if (!this.isOp(text)) throw new FormulaError(`expected "${text}"`, this.peek().pos);
    this.i++;
  }

  parse(): Node {
    const n = this.test();
    if (this.peek().kind !== 'end') throw new FormulaError(`unexpected "${this.peek().text}"`, this.peek().pos);
    return n;
  }

  /** test := or_test ['if' or_test 'else' test] */
  private test(): Node {
    if (++this.depth > 100) throw new FormulaError('expression nested too deeply', this.peek().pos);
    const then = this.orTest();
    let out = then;
    if (this.isWord('if')) {
      this.i++;
      const cond = this.orTest();
      if (!this.isWord('else')) throw new FormulaError('expected "else"', this.peek().pos);
      this.i++;
      const other = this.test();
      out = (e) => (truthy(cond(e)) ? then(e) : other(e));
    }
    this.depth--;
    return out;
  }

  private orTest(): Node {
    let l = this.andTest();
    while (this.isWord('or')) {
      this.i++;
      const a = l;
      const b = this.andTest();
      l = (e) => {
        const v = a(e);
        return truthy(v) ? v : b(e);
      };
    }
    return l;
  }

  private andTest(): Node {
    let l = this.notTest();
    while (this.isWord('and')) {
      this.i++;
      const a = l;
      const b = this.notTest();
      l = (e) => {
        const v = a(e);
        return truthy(v) ? b(e) : v;
      };
    }
    return l;
  }

  private notTest(): Node {
    if (this.isWord('not')) {
      this.i++;
      const a = this.notTest();
      return (e) => (truthy(a(e)) ? 0 : 1);
    }
    return this.comparison();
  }

  /** Chained as in Python: `a < b < c` is `a < b and b < c`. */
  private comparison(): Node {
    const first = this.bitOr();
    const ops: string[] = [];
    const rest: Node[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || !['<', '>', '<=', '>=', '==', '!='].includes(t.text)) break;
      this.i++;
      ops.push(t.text);
      rest.push(this.bitOr());
    }
    if (ops.length === 0) return first;
    return (e) => {
      let left = first(e);
      for (let k = 0; k < ops.length; k++) {
        const right = rest[k]!(e);
        const op = ops[k];
        const ok =
          op === '<' ? left < right : op === '>' ? left > right : op === '<=' ? left <= right : op === '>=' ? left >= right : op === '==' ? left === right : left !== right;
        if (!ok) return 0;
        left = right;
      }
      return 1;
    };
  }

  private binary(next: () => Node, ops: Record<string, (a: number, b: number) => number>): Node {
    let l = next();
    for (;;) {
      const t = this.peek();
      const f = t.kind === 'op' ? ops[t.text] : undefined;
      if (!f) return l;
      this.i++;
      const a = l;
      const b = next();
      l = (e) => f(a(e), b(e));
    }
  }

  private bitOr(): Node {
    return this.binary(() => this.bitXor(), { '|': (a, b) => Number(BigInt(Math.trunc(a)) | BigInt(Math.trunc(b))) });
  }

  private bitXor(): Node {
    return this.binary(() => this.bitAnd(), { '^': (a, b) => Number(BigInt(Math.trunc(a)) ^ BigInt(Math.trunc(b))) });
  }

  private bitAnd(): Node {
    return this.binary(() => this.shift(), { '&': (a, b) => Number(BigInt(Math.trunc(a)) & BigInt(Math.trunc(b))) });
  }

  private shift(): Node {
    return this.binary(() => this.arith(), {
      '<<': (a, b) => (b < 0 ? NaN : shiftLeft(a, b)),
      '>>': (a, b) => (b < 0 ? NaN : Math.floor(Math.trunc(a) / 2 ** Math.trunc(b))),
    });
  }

  private arith(): Node {
    return this.binary(() => this.term(), { '+': (a, b) => a + b, '-': (a, b) => a - b });
  }

  private term(): Node {
    return this.binary(() => this.factor(), {
      '*': (a, b) => a * b,
      '/': (a, b) => a / b,
      '//': (a, b) => Math.floor(a / b),
      '%': pyMod,
    });
  }

  /** factor := ('+' | '-' | '~') factor | power */
  private factor(): Node {
    const t = this.peek();
    if (t.kind === 'op' && (t.text === '-' || t.text === '+' || t.text === '~')) {
      this.i++;
      if (++this.depth > 100) throw new FormulaError('expression nested too deeply', t.pos);
      const a = this.factor();
      this.depth--;
      if (t.text === '-') return (e) => -a(e);
      if (t.text === '~') return (e) => -Math.trunc(a(e)) - 1;
      return a;
    }
    return this.power();
  }

  /** power := atom ['**' factor]  (right-associative, binds tighter than unary minus on its left) */
  private power(): Node {
    const base = this.atom();
    if (!this.isOp('**')) return base;
    this.i++;
    const exp = this.factor();
    return (e) => base(e) ** exp(e);
  }

  private atom(): Node {
    const t = this.peek();
    if (t.kind === 'num') {
      this.i++;
      const v = t.value;
      return () => v;
    }
    if (t.kind === 'op' && t.text === '(') {
      this.i++;
      const inner = this.test();
      this.expect(')');
      return inner;
    }
    if (t.kind === 'name') {
      this.i++;
      const lower = t.text.toLowerCase();
      // Python names are case-sensitive; fail2ban's own are written ban.Time,
      // ban.Count, banFactor, so accept those spellings and the lower-case ones.
      if (this.isOp('(')) {
        const f = FUNCTIONS[lower];
        if (!f) throw new FormulaError(`unknown function "${t.text}"`, t.pos);
        this.i++;
        const args: Node[] = [];
        if (!this.isOp(')')) {
          args.push(this.test());
          while (this.isOp(',')) {
            this.i++;
            args.push(this.test());
          }
        }
        this.expect(')');
        if (args.length < f.min || args.length > f.max) {
          throw new FormulaError(`${t.text}() takes ${f.min === f.max ? f.min : `${f.min} to ${f.max}`} arguments`, t.pos);
        }
        const fn = f.fn;
        if (args.length === 1) {
          const a = args[0]!;
          return (e) => fn(a(e));
        }
        return (e) => fn(...args.map((a) => a(e)));
      }
      const v = VARIABLES[lower];
      if (!v) throw new FormulaError(`unknown name "${t.text}" (known: ban.Time, ban.Count, banFactor)`, t.pos);
      return v;
    }
    throw new FormulaError(t.kind === 'end' ? 'expression ends too early' : `unexpected "${t.text}"`, t.pos);
  }
}

/** Compile a formula; throws FormulaError naming the place of a mistake. */
export function compileFormula(source: string): Formula {
  if (source.length > 2000) throw new FormulaError('expression longer than 2000 characters', 0);
  return new Parser(tokenize(source)).parse();
}

/** Evaluate a constant expression such as `bantime.factor = 2.0 / 2.885385`. */
export function evaluateConstant(source: string): number {
  return compileFormula(source)({ time: 0, count: 0, factor: 1 });
}

/** fail2ban's default `bantime.formula`: doubles with every earlier ban, up to 2^20. */
export const DEFAULT_FORMULA = 'ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor';
