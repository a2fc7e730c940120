/**
 * Python's conditional groups `(?(name)yes|no)` rewritten into plain
 * alternatives, so a JavaScript engine (which has no conditionals) finds
 * the same match, with the same groups, as Python's `re`.
 *
 * fail2ban uses them in sshd.conf on groups of the same regex:
 *   for (?P<cond_inv>invalid user )?<F-USER>(?P<cond_user>\S+)|...</F-USER> from <HOST>...(?(cond_user): |...)
 * The condition only asks whether the group took part in the match so far.
 * Where the group is decided (an optional `?`, or an alternation with the
 * group in some branches), the regex is split into copies: one where the
 * group took part, followed by the rest with every `(?(name)...)` replaced
 * by its yes branch, and one where it did not, followed by the rest with the
 * no branch. A backtracking engine tries alternatives in order, so the
 * copies are put in the order Python would try the same paths: the result
 * is not only the same yes/no answer but the same groups (the same `<HOST>`).
 *
 * Copies repeat group names, which JavaScript (Node 20) refuses; the second
 * and later copies get aliases `name__cN`, returned in `aliases` so the
 * caller reports them under the original name.
 *
 * Refused, with a message saying why (never translated approximately):
 * a group inside a repetition (`*`, `+`, `{2,}`: Python keeps the value of
 * an earlier iteration), inside a lookaround, a split whose order Python
 * would not keep (a choice before the group inside the same capture),
 * verbose (?x) patterns, numbered backreferences in a split pattern, and
 * output over MAX_SOURCE characters.
 */

export class ConditionalError extends Error {
  override readonly name = 'ConditionalError';
}

export interface RewrittenConditionals {
  pattern: string;
  /** Alias group name -> the name it stands for ('' for a name of our own, not reported). Empty when nothing was split. */
  aliases: Map<string, string>;
}

/** A split that would make a regex this long is refused (each conditional can double it). */
const MAX_SOURCE = 256 * 1024;

type Node = Seq | Alt | Group | Cond | Quant | Atom | Backref;

interface Seq {
  t: 'seq';
  items: Node[];
}
interface Alt {
  t: 'alt';
  branches: Seq[];
}
interface Group {
  t: 'group';
  /** capture: `(` or `(?P<name>`; other: `(?:`, `(?i:`, lookarounds, atomic. */
  kind: 'capture' | 'noncap' | 'look';
  /** Opening text for non-named groups. */
  open: string;
  name?: string;
  /** Position of the opening parenthesis in the pattern. */
  at?: number;
  /** `(?<name>` instead of `(?P<name>`. */
  shortName?: boolean;
  body: Alt;
}
interface Cond {
  t: 'cond';
  /** Position in the pattern (Python only knows groups opened before it). */
  at?: number;
  ref: string;
  yes: Seq;
  no: Seq | null;
}
interface Quant {
  t: 'quant';
  node: Node;
  text: string;
}
interface Atom {
  t: 'atom';
  text: string;
  /** A numbered backreference `\1`. */
  numbered?: boolean;
}
interface Backref {
  t: 'backref';
  name: string;
}

class Parser {
  private i = 0;
  private groupNo = 0;
  /** Python group number -> the capture group node. */
  readonly numbered = new Map<number, Group>();

  constructor(private readonly src: string) {}

  parse(): Alt {
    const alt = this.alternation();
    if (this.i < this.src.length) throw new ConditionalError("unbalanced ')'");
    return alt;
  }

  private alternation(): Alt {
    const branches: Seq[] = [this.sequence()];
    while (this.src[this.i] === '|') {
      this.i++;
      branches.push(this.sequence());
    }
    return { t: 'alt', branches };
  }

  private sequence(): Seq {
    const items: Node[] = [];
    const s = this.src;
    while (this.i < s.length && s[this.i] !== '|' && s[this.i] !== ')') {
      let node = this.atom();
      const q = this.quantifier();
      if (q !== null) node = { t: 'quant', node, text: q };
      items.push(node);
    }
    return { t: 'seq', items };
  }

  private quantifier(): string | null {
    const rest = this.src.slice(this.i, this.i + 32);
    const m = /^(?:[*+?]|\{\d*,?\d*\})[?+]?/.exec(rest);
    if (!m) return null;
    // `{` that is no quantifier (`{DATE}`, `{}`) is a literal, as in Python.
    if (m[0].startsWith('{') && !/^\{(?:\d+|\d*,\d*)\}/.test(m[0])) return null;
    if (m[0].startsWith('{,}')) return null;
    this.i += m[0].length;
    return m[0];
  }

  private atom(): Node {
    const s = this.src;
    const c = s[this.i]!;
    if (c === '\\') {
      const n = s[this.i + 1];
      if (n === undefined) throw new ConditionalError('bad escape (end of pattern)');
      if (n >= '1' && n <= '9') {
        const m = /^\\[1-9]\d?/.exec(s.slice(this.i, this.i + 3))!;
        this.i += m[0].length;
        return { t: 'atom', text: m[0], numbered: true };
      }
      this.i += 2;
      return { t: 'atom', text: '\\' + n };
    }
    if (c === '[') return this.charClass();
    if (c === '(') return this.group();
    this.i++;
    return { t: 'atom', text: c };
  }

  private charClass(): Atom {
    const s = this.src;
    const start = this.i;
    this.i++;
    if (s[this.i] === '^') this.i++;
    if (s[this.i] === ']') this.i++;
    while (this.i < s.length && s[this.i] !== ']') this.i += s[this.i] === '\\' ? 2 : 1;
    if (this.i >= s.length) throw new ConditionalError('unterminated character set');
    this.i++;
    return { t: 'atom', text: s.slice(start, this.i) };
  }

  private group(): Node {
    const s = this.src;
    const start = this.i;
    const rest = s.slice(this.i, this.i + 80);
    let m: RegExpExecArray | null;
    if ((m = /^\(\?P=(\w+)\)/.exec(rest))) {
      this.i += m[0].length;
      return { t: 'backref', name: m[1]! };
    }
    if (rest.startsWith('(?#')) {
      const end = s.indexOf(')', this.i);
      if (end === -1) throw new ConditionalError('unterminated comment');
      const text = s.slice(this.i, end + 1);
      this.i = end + 1;
      return { t: 'atom', text };
    }
    if ((m = /^\(\?[aiLmsux]+\)/.exec(rest))) {
      if (m[0].includes('x')) throw new ConditionalError('conditional groups in a verbose (?x) pattern are not supported');
      this.i += m[0].length;
      return { t: 'atom', text: m[0] };
    }
    if ((m = /^\(\?\((\w+)\)/.exec(rest))) {
      const at = this.i;
      this.i += m[0].length;
      const body = this.alternation();
      this.close();
      if (body.branches.length > 2) throw new ConditionalError('conditional group with more than two branches');
      return { t: 'cond', ref: m[1]!, at, yes: body.branches[0]!, no: body.branches[1] ?? null };
    }
    let g: Group;
    if ((m = /^\(\?P<(\w+)>/.exec(rest)) || (m = /^\(\?<([A-Za-z_]\w*)>/.exec(rest))) {
      this.i += m[0].length;
      g = { t: 'group', kind: 'capture', open: '', name: m[1]!, shortName: !m[0].startsWith('(?P'), body: EMPTY_ALT };
      this.numbered.set(++this.groupNo, g);
    } else if ((m = /^\(\?(?:=|!|<=|<!|>)/.exec(rest))) {
      this.i += m[0].length;
      g = { t: 'group', kind: 'look', open: m[0], body: EMPTY_ALT };
    } else if ((m = /^\(\?[aiLmsux]*(?:-[imsx]+)?:/.exec(rest))) {
      if (/x/.test(m[0].split('-')[0]!)) throw new ConditionalError('conditional groups in a verbose (?x) pattern are not supported');
      this.i += m[0].length;
      g = { t: 'group', kind: 'noncap', open: m[0], body: EMPTY_ALT };
    } else if (rest.startsWith('(?')) {
      throw new ConditionalError(`unknown extension ${rest.slice(0, 3)}`);
    } else {
      this.i++;
      g = { t: 'group', kind: 'capture', open: '(', body: EMPTY_ALT };
      this.numbered.set(++this.groupNo, g);
    }
    g.at = start;
    g.body = this.alternation();
    this.close();
    return g;
  }

  private close(): void {
    if (this.src[this.i] !== ')') throw new ConditionalError("missing ')'");
    this.i++;
  }
}

const EMPTY_ALT: Alt = { t: 'alt', branches: [] };

function serialize(n: Node): string {
  switch (n.t) {
    case 'seq':
      return n.items.map(serialize).join('');
    case 'alt':
      return n.branches.map(serialize).join('|');
    case 'group':
      if (n.kind === 'capture' && n.name !== undefined) {
        return `${n.shortName ? '(?<' : '(?P<'}${n.name}>${serialize(n.body)})`;
      }
      return `${n.open}${serialize(n.body)})`;
    case 'cond':
      return `(?(${n.ref})${serialize(n.yes)}${n.no ? '|' + serialize(n.no) : ''})`;
    case 'quant':
      return serialize(n.node) + n.text;
    case 'atom':
      return n.text;
    case 'backref':
      return `(?P=${n.name})`;
  }
}

function children(n: Node): Node[] {
  switch (n.t) {
    case 'seq':
      return n.items;
    case 'alt':
      return n.branches;
    case 'group':
      return [n.body];
    case 'cond':
      return n.no ? [n.yes, n.no] : [n.yes];
    case 'quant':
      return [n.node];
    default:
      return [];
  }
}

/** The chain of nodes from `root` down to `target` (both included), or null. */
function pathTo(root: Node, target: Node): Node[] | null {
  if (root === target) return [root];
  for (const c of children(root)) {
    const p = pathTo(c, target);
    if (p) return [root, ...p];
  }
  return null;
}

function contains(root: Node, target: Node): boolean {
  return pathTo(root, target) !== null;
}

function walk(n: Node, f: (n: Node) => void): void {
  f(n);
  for (const c of children(n)) walk(c, f);
}

/** Deep copy with the named groups (and references to them) in `rename` renamed. */
function clone<T extends Node>(n: T, rename: Map<string, string>): T {
  const r = (name: string) => rename.get(name) ?? name;
  switch (n.t) {
    case 'seq':
      return { t: 'seq', items: n.items.map((x) => clone(x, rename)) } as T;
    case 'alt':
      return { t: 'alt', branches: n.branches.map((x) => clone(x, rename)) } as T;
    case 'group':
      return { ...n, ...(n.name !== undefined ? { name: r(n.name) } : {}), body: clone(n.body, rename) } as T;
    case 'cond':
      return { t: 'cond', ref: r(n.ref), yes: clone(n.yes, rename), no: n.no ? clone(n.no, rename) : null } as T;
    case 'quant':
      return { t: 'quant', node: clone(n.node, rename), text: n.text } as T;
    case 'atom':
      return { ...n } as T;
    case 'backref':
      return { t: 'backref', name: r(n.name) } as T;
  }
}

/** A quantifier that makes its node optional (at most once), greedy or lazy; null for any other. */
function optional(text: string): 'greedy' | 'lazy' | 'once' | null {
  if (text === '?' || text === '{0,1}' || text === '{,1}') return 'greedy';
  if (text === '??' || text === '{0,1}?' || text === '{,1}?') return 'lazy';
  if (text === '{1}' || text === '{1,1}' || text === '{1}?' || text === '{1,1}?') return 'once';
  return null;
}

/** Does matching `n` involve a choice (an alternation or a quantifier that is not exact)? */
function hasChoice(n: Node): boolean {
  let found = false;
  walk(n, (x) => {
    if (x.t === 'alt' && x.branches.length > 1) found = true;
    if (x.t === 'quant' && !/^\{\d+\}\??$/.test(x.text)) found = true;
    if (x.t === 'cond') found = true;
  });
  return found;
}

type Mode = 'set' | 'unset';
interface Piece {
  node: Node;
  mode: Mode;
}

const seq = (items: Node[]): Seq => ({ t: 'seq', items });
const altOf = (branches: Seq[]): Alt => ({ t: 'alt', branches });
const asSeq = (n: Node): Seq => (n.t === 'seq' ? n : seq([n]));

class Rewriter {
  readonly aliases = new Map<string, string>();
  private copies = 0;
  private readonly names = new Set<string>();

  constructor(private root: Alt) {
    walk(root, (n) => {
      if (n.t === 'group' && n.name !== undefined) this.names.add(n.name);
    });
  }

  run(numbered: Map<number, Group>): Alt {
    // Numbered conditions name their group (a name of our own, `_` so it is no field).
    walk(this.root, (n) => {
      if (n.t !== 'cond' || !/^\d+$/.test(n.ref)) return;
      const g = numbered.get(Number(n.ref));
      if (!g) throw new ConditionalError(`invalid group reference ${n.ref}`);
      if (g.name === undefined) {
        g.name = this.fresh(`_cond${n.ref}`);
        g.shortName = false;
        // A name of ours, not Python's: matches do not report it.
        this.aliases.set(g.name, '');
      }
      n.ref = g.name;
    });
    for (let guard = 0; guard < 64; guard++) {
      let cond: Cond | undefined;
      walk(this.root, (n) => {
        if (!cond && n.t === 'cond') cond = n;
      });
      if (!cond) return this.root;
      this.resolve(cond);
      if (serialize(this.root).length > MAX_SOURCE) throw new ConditionalError('conditional groups make the regex too large');
    }
    throw new ConditionalError('too many conditional groups');
  }

  private fresh(base: string): string {
    let n = base;
    for (let k = 2; this.names.has(n); k++) n = `${base}${k}`;
    this.names.add(n);
    return n;
  }

  private findGroup(cond: Cond): Group {
    const name = cond.ref;
    let g: Group | undefined;
    walk(this.root, (n) => {
      if (n.t === 'group' && n.name === name) g = n;
    });
    // As Python: only a group opened before the condition is known to it.
    if (!g || (g.at !== undefined && cond.at !== undefined && g.at > cond.at)) {
      throw new ConditionalError(`unknown group name '${name}' in (?(${name})...)`);
    }
    return g;
  }

  /** Remove one conditional (and every other on the same group that the same split decides). */
  private resolve(cond: Cond): void {
    const g = this.findGroup(cond);
    const pg = pathTo(this.root, g)!;
    const pc = pathTo(this.root, cond)!;
    for (const n of pg.slice(0, -1)) {
      if (n.t === 'quant' && optional(n.text) === null) {
        throw new ConditionalError(`group '${g.name}' of a conditional is repeated (${n.text}); its value would depend on earlier repetitions`);
      }
      if (n.t === 'group' && n.kind === 'look') throw new ConditionalError(`group '${g.name}' of a conditional is inside a lookaround`);
      if (n.t === 'cond') throw new ConditionalError(`group '${g.name}' is inside a conditional`);
    }
    // The group is in no repetition, so a conditional sees the same state
    // however often it is repeated; only one inside the group itself is odd.
    for (const n of pc.slice(0, -1)) {
      if (n === g) throw new ConditionalError(`conditional on '${g.name}' is inside that group`);
    }
    let k = 0;
    while (k < pg.length && k < pc.length && pg[k] === pc[k]) k++;
    const lca = pg[k - 1]!;
    if (lca.t !== 'seq') {
      // Different branches of an alternation: on the path through the
      // conditional the group never took part.
      this.replaceCond(cond, 'unset');
      return;
    }
    const gi = lca.items.indexOf(pg[k]!);
    const ci = lca.items.indexOf(pc[k]!);
    if (ci < gi) {
      this.replaceCond(cond, 'unset');
      return;
    }
    const pieces = merge(this.pieces(lca.items[gi]!, g));
    const rest = lca.items.slice(gi + 1);
    // A backreference after the split region to a group inside it would be ambiguous.
    const inside = new Set<string>();
    for (const n of lca.items.slice(gi)) walk(n, (x) => x.t === 'group' && x.name !== undefined && inside.add(x.name));
    const branches: Seq[] = pieces.map((p, idx) => {
      const rename = new Map<string, string>();
      if (idx > 0) {
        for (const name of inside) {
          const alias = this.fresh(`${name}__c${++this.copies}`);
          rename.set(name, alias);
          this.aliases.set(alias, this.aliases.get(name) ?? name);
        }
      }
      const copy = seq([clone(p.node, rename), ...rest.map((x) => clone(x, rename))]);
      const gname = rename.get(g.name!) ?? g.name!;
      walk(copy, (x) => {
        if (x.t === 'cond' && x.ref === gname) this.replaceCondIn(copy, x, p.mode);
      });
      return copy;
    });
    if (pieces.length > 1 && inside.size > 0) this.checkOutsideRefs(lca, inside);
    if (pieces.length > 1 && [...branches].some((b) => hasNumbered(b))) {
      throw new ConditionalError('numbered backreferences in a regex whose conditional is split into copies are not supported');
    }
    const replacement: Node = branches.length === 1 ? branches[0]! : { t: 'group', kind: 'noncap', open: '(?:', body: altOf(branches) };
    lca.items.splice(gi, lca.items.length - gi, ...(replacement.t === 'seq' ? replacement.items : [replacement]));
  }

  private checkOutsideRefs(lca: Seq, inside: Set<string>): void {
    walk(this.root, (x) => {
      if (x.t === 'backref' && inside.has(x.name) && !contains(lca, x)) {
        throw new ConditionalError(`backreference (?P=${x.name}) outside the conditional's scope`);
      }
    });
  }

  /**
   * The paths through `n` split by whether they pass through group `g`, in
   * the order a backtracking engine tries them.
   */
  private pieces(n: Node, g: Group): Piece[] {
    if (n === g) return [{ node: n, mode: 'set' }];
    if (!contains(n, g)) return [{ node: n, mode: 'unset' }];
    switch (n.t) {
      case 'group': {
        const inner = merge(this.pieces(n.body, g));
        return inner.map((p) => ({ node: { ...n, body: altOf([asSeq(p.node)]) }, mode: p.mode }));
      }
      case 'alt': {
        const out: Piece[] = [];
        for (const b of n.branches) out.push(...this.pieces(b, g));
        return out;
      }
      case 'seq': {
        const k = n.items.findIndex((x) => contains(x, g));
        const inner = merge(this.pieces(n.items[k]!, g));
        const before = n.items.slice(0, k);
        if (inner.length > 1 && before.some(hasChoice)) {
          throw new ConditionalError(`group '${g.name}' follows a choice inside the same group: its split would change the order Python tries paths in`);
        }
        const after = n.items.slice(k + 1);
        return inner.map((p) => ({ node: seq([...before, p.node, ...after]), mode: p.mode }));
      }
      case 'quant': {
        const kind = optional(n.text);
        const inner = this.pieces(n.node, g);
        const none: Piece = { node: seq([]), mode: 'unset' };
        if (kind === 'greedy') return [...inner, none];
        if (kind === 'lazy') return [none, ...inner];
        if (kind === 'once') return inner;
        throw new ConditionalError(`group '${g.name}' of a conditional is repeated (${n.text})`);
      }
      default:
        throw new ConditionalError(`group '${g.name}' is inside a conditional`);
    }
  }

  private replaceCond(cond: Cond, mode: Mode): void {
    this.replaceCondIn(this.root, cond, mode);
  }

  /** Replace `cond` inside `root` by its branch for `mode`, as a non-capturing group. */
  private replaceCondIn(root: Node, cond: Cond, mode: Mode): void {
    const branch = mode === 'set' ? cond.yes : (cond.no ?? seq([]));
    const repl: Group = { t: 'group', kind: 'noncap', open: '(?:', body: altOf([branch]) };
    const swap = (parent: Node) => {
      if (parent.t === 'seq') {
        const i = parent.items.indexOf(cond);
        if (i !== -1) parent.items[i] = repl;
      } else if (parent.t === 'quant' && parent.node === cond) {
        parent.node = repl;
      }
    };
    walk(root, swap);
  }
}

function hasNumbered(n: Node): boolean {
  let found = false;
  walk(n, (x) => {
    if (x.t === 'atom' && x.numbered) found = true;
  });
  return found;
}

/** Adjacent pieces with the same mode become one alternation (fewer copies, same order). */
function merge(pieces: Piece[]): Piece[] {
  const out: Piece[] = [];
  for (const p of pieces) {
    const last = out[out.length - 1];
    if (last && last.mode === p.mode) {
      const a = last.node.t === 'group' && last.node.kind === 'noncap' && last.node.open === '(?:' && (last as { merged?: boolean }).merged
        ? (last.node as Group).body.branches
        : [asSeq(last.node)];
      const g: Group = { t: 'group', kind: 'noncap', open: '(?:', body: altOf([...a, asSeq(p.node)]) };
      out[out.length - 1] = Object.assign({ node: g, mode: p.mode }, { merged: true });
    } else {
      out.push(p);
    }
  }
  return out;
}

/** Quick test: does the pattern contain a conditional group at all? */
export function hasConditional(pattern: string): boolean {
  return pattern.includes('(?(');
}

/**
 * Rewrite every `(?(name)yes|no)` and `(?(number)yes|no)` in a Python
 * pattern into alternatives without conditionals, or throw ConditionalError.
 */
export function rewriteConditionals(pattern: string): RewrittenConditionals {
  if (!hasConditional(pattern)) return { pattern, aliases: new Map() };
  const parser = new Parser(pattern);
  const root = parser.parse();
  const rw = new Rewriter(root);
  const out = rw.run(parser.numbered);
  return { pattern: serialize(out), aliases: rw.aliases };
}
