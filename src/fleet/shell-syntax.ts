/**
 * A reading of an action command as POSIX sh will read it, far enough for
 * two things: where each per-ban tag stands (bare word, double quotes, single
 * quotes, ...), and which simple commands the text runs, word by word.
 *
 * This is not what keeps log text from running: log values never enter the
 * command text at all (see command-template.ts), so a wrong guess here costs
 * at most an unquoted expansion (field splitting), never a parse of attacker
 * bytes. It is what lets the action reader refuse, at load time, an action
 * that would hand such a value to a second parser (`sh -c`, `eval`, ...).
 */

/** Where a tag stands. Only 'bare' and 'double' may hold a value from a log line. */
export type TagContext =
  | 'bare'
  | 'double'
  | 'single'
  | 'comment'
  | 'escaped'
  | 'backtick'
  | 'param'
  | 'arith'
  | 'heredoc'
  | 'redirect';

/** One word of a simple command. */
export interface ShellWord {
  /** The word with quotes and escapes removed; expansions kept as written. */
  text: string;
  /** It holds an expansion ($x, $(...), `...`, ${...}): its value is known only when sh runs. */
  dynamic: boolean;
  /** It holds a per-ban tag that carries log text (directly or inside a $(...) of it). */
  data: boolean;
  /** Offset of its first character. */
  at: number;
}

/** A simple command: assignments, then the command word and its arguments. */
export interface ShellCommand {
  /** Words before the command word that are NAME=value. */
  assignments: ShellWord[];
  /** The command word and the arguments, in order. */
  words: ShellWord[];
  /** `$((`, `((`, or `[[` appears in it (bash evaluates arithmetic there). */
  arithmetic: boolean;
}

export interface TagPlace {
  /** Offset of the tag's `<`. */
  at: number;
  name: string;
  context: TagContext;
}

export interface ShellScan {
  tags: TagPlace[];
  commands: ShellCommand[];
}

const RESERVED = new Set(['if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'while', 'until', '!', '{', '}', 'esac', 'in', 'function', 'select']);

type FrameKind = 'top' | 'dq' | 'bq' | 'param' | 'arith';

interface Frame {
  kind: FrameKind;
  /** Only in top/bq frames: the simple command being read. */
  assignments: ShellWord[];
  words: ShellWord[];
  arithmetic: boolean;
  cur: ShellWord | null;
  /** The next word is the target of a redirection. */
  redirect: boolean;
  /** `for NAME in ...`: words up to `do` are not commands. */
  forHeader: boolean;
  /** case state stack: 'subject' (reading the word), 'in', 'pattern', 'body'. */
  cases: ('subject' | 'in' | 'pattern' | 'body')[];
  /** param/arith: nesting count of the closing bracket. */
  depth: number;
  /** Inside a word of the frame below ($(...), quotes, ...), not a subshell of its own. */
  sub: boolean;
}

function frame(kind: FrameKind, sub = true): Frame {
  return { kind, assignments: [], words: [], arithmetic: false, cur: null, redirect: false, forHeader: false, cases: [], depth: 0, sub };
}

const TAG_RE = /<([^ <>]+)>/y;

/**
 * Scan `text`. `isTag(name)` says which `<name>` are per-ban tags (kept as
 * opaque parts of words); `isData(name)` which of them carry log text.
 */
export function scanShell(text: string, isTag: (name: string) => boolean, isData: (name: string) => boolean): ShellScan {
  const tags: TagPlace[] = [];
  const commands: ShellCommand[] = [];
  const stack: Frame[] = [frame('top', false)];
  /** Here-documents whose bodies start at the next newline: [delimiter, strip tabs]. */
  let heredocs: { delim: string; strip: boolean }[] = [];
  let redirectIsHeredoc = false;

  const top = (): Frame => stack[stack.length - 1]!;
  /** The innermost frame that reads commands. */
  const cmdFrame = (): Frame => {
    for (let i = stack.length - 1; i >= 0; i--) if (stack[i]!.kind === 'top' || stack[i]!.kind === 'bq') return stack[i]!;
    return stack[0]!;
  };
  const word = (f: Frame, at: number): ShellWord => (f.cur ??= { text: '', dynamic: false, data: false, at });
  /** The words an expansion at `at` is part of: the innermost command's, and outward through $(...) and quotes. */
  const wordsAt = (at: number): ShellWord[] => {
    const out: ShellWord[] = [];
    for (let k = stack.length - 1; k >= 0; k--) {
      const s = stack[k]!;
      if (s.kind === 'top' || s.kind === 'bq') out.push(word(s, at));
      if (!s.sub) break;
    }
    return out;
  };
  const markDynamic = (at: number) => {
    for (const w of wordsAt(at)) w.dynamic = true;
  };
  const endWord = (f: Frame) => {
    const w = f.cur;
    if (!w) return;
    f.cur = null;
    if (f.redirect) {
      f.redirect = false;
      if (redirectIsHeredoc) {
        heredocs.push({ delim: w.text, strip: w.at > 0 && text.slice(Math.max(0, w.at - 3), w.at).includes('<<-') });
        redirectIsHeredoc = false;
      }
      return;
    }
    const atStart = f.words.length === 0;
    const c = f.cases[f.cases.length - 1];
    if (c === 'subject') {
      f.cases[f.cases.length - 1] = 'in';
      return;
    }
    if (c === 'in') {
      if (w.text === 'in') f.cases[f.cases.length - 1] = 'pattern';
      return;
    }
    if (c === 'pattern') {
      if (w.text === 'esac') f.cases.pop();
      return;
    }
    if (atStart && !w.dynamic && !w.data) {
      if (w.text === 'case') {
        f.cases.push('subject');
        return;
      }
      if (w.text === 'esac' && c === 'body') {
        f.cases.pop();
        return;
      }
      if (w.text === 'for') {
        f.forHeader = true;
        return;
      }
      if (f.forHeader) {
        if (w.text === 'do') f.forHeader = false;
        return;
      }
      if (RESERVED.has(w.text)) return;
    }
    if (f.forHeader) return;
    if (atStart && /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?=/.test(w.text)) f.assignments.push(w);
    else f.words.push(w);
  };
  const endCommand = (f: Frame) => {
    endWord(f);
    if (f.words.length || f.assignments.length) {
      commands.push({ assignments: f.assignments, words: f.words, arithmetic: f.arithmetic });
    }
    f.assignments = [];
    f.words = [];
    f.arithmetic = false;
    f.redirect = false;
  };

  let i = 0;
  const n = text.length;
  while (i < n) {
    const f = top();
    const c = text[i]!;

    // Per-ban tags are opaque parts of a word, wherever they stand.
    if (c === '<') {
      TAG_RE.lastIndex = i;
      const m = TAG_RE.exec(text);
      if (m && isTag(m[1]!)) {
        const data = isData(m[1]!);
        const context = contextOf(stack, f, text, i);
        tags.push({ at: i, name: m[1]!, context });
        word(cmdFrame(), i).text += m[0];
        if (data) for (const w of wordsAt(i)) w.data = true;
        i += m[0].length;
        continue;
      }
    }

    if (f.kind === 'param') {
      if (c === '\\') i += 2;
      else {
        if (c === '{') f.depth++;
        else if (c === '}' && --f.depth === 0) stack.pop();
        i++;
      }
      continue;
    }
    if (f.kind === 'arith') {
      if (c === '(') f.depth++;
      else if (c === ')') {
        f.depth--;
        if (f.depth === 0) {
          stack.pop();
          if (text[i + 1] === ')') i++;
        }
      }
      i++;
      continue;
    }

    if (f.kind === 'dq') {
      const w = word(cmdFrame(), i);
      if (c === '"') {
        stack.pop();
        i++;
        continue;
      }
      if (c === '\\') {
        const next = text[i + 1];
        if (next !== undefined && '$`"\\\n'.includes(next)) {
          if (next !== '\n') w.text += next;
          i += 2;
        } else {
          w.text += c;
          i++;
        }
        continue;
      }
      if (c === '$' || c === '`') {
        i = openExpansion(i);
        continue;
      }
      w.text += c;
      i++;
      continue;
    }

    // top or bq: reading commands.
    if (f.kind === 'bq' && c === '`') {
      endCommand(f);
      stack.pop();
      i++;
      continue;
    }
    if (c === '\\') {
      const next = text[i + 1];
      if (next === '\n') {
        i += 2;
        continue;
      }
      if (next === '<') {
        TAG_RE.lastIndex = i + 1;
        const m = TAG_RE.exec(text);
        if (m && isTag(m[1]!)) {
          // sh takes the `<` as text: a value would not be one quoted word here.
          tags.push({ at: i + 1, name: m[1]!, context: 'escaped' });
          word(f, i).text += m[0];
          if (isData(m[1]!)) markData(f);
          i += 1 + m[0].length;
          continue;
        }
      }
      if (next !== undefined) word(f, i).text += next;
      i += 2;
      continue;
    }
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      const stop = end === -1 ? n : end;
      word(f, i).text += text.slice(i + 1, stop);
      if (tagsIn(i + 1, stop, 'single')) markData(f);
      i = stop + 1;
      continue;
    }
    if (c === '"') {
      word(f, i);
      stack.push(frame('dq'));
      i++;
      continue;
    }
    if (c === '$' || c === '`') {
      i = openExpansion(i);
      continue;
    }
    if (c === '#' && f.cur === null) {
      const nl = text.indexOf('\n', i);
      const stop = nl === -1 ? n : nl;
      tagsIn(i, stop, 'comment');
      i = stop;
      continue;
    }
    if (c === '\n') {
      endCommand(f);
      i++;
      if (heredocs.length) i = skipHeredocs(i);
      continue;
    }
    if (c === ' ' || c === '\t') {
      endWord(f);
      i++;
      continue;
    }
    if (c === ';' || c === '&' || c === '|') {
      endCommand(f);
      const cs = f.cases;
      if (c === ';' && (text[i + 1] === ';' || text[i + 1] === '&') && cs[cs.length - 1] === 'body') {
        cs[cs.length - 1] = 'pattern';
        i += 2;
        continue;
      }
      i += text[i + 1] === c ? 2 : 1;
      continue;
    }
    if (c === '(') {
      const cs = f.cases;
      if (cs[cs.length - 1] === 'pattern') {
        i++;
        continue;
      }
      if (text[i + 1] === '(' && f.cur === null && f.words.length === 0) {
        // (( arithmetic )) command (bash, ksh).
        f.arithmetic = true;
        const s = frame('arith');
        s.depth = 1;
        stack.push(s);
        i += 2;
        continue;
      }
      endCommand(f);
      stack.push(frame('top', false));
      i++;
      continue;
    }
    if (c === ')') {
      const cs = f.cases;
      if (cs[cs.length - 1] === 'pattern') {
        endWord(f);
        cs[cs.length - 1] = 'body';
        i++;
        continue;
      }
      endCommand(f);
      if (stack.length > 1 && f.kind === 'top') stack.pop();
      i++;
      continue;
    }
    if (c === '<' || c === '>') {
      // A word of digits just before is the file descriptor, not a word.
      if (f.cur && /^\d+$/.test(f.cur.text) && !f.cur.dynamic && f.cur.at + f.cur.text.length === i) f.cur = null;
      else endWord(f);
      let j = i + 1;
      if (c === '<' && text[j] === '<') {
        j++;
        if (text[j] === '-') j++;
        redirectIsHeredoc = true;
      } else if (text[j] === '>' || text[j] === '&' || text[j] === '|' || (c === '<' && text[j] === '>')) j++;
      f.redirect = true;
      i = j;
      continue;
    }
    if (c === '[' && text[i + 1] === '[' && f.cur === null && f.words.length === 0) f.arithmetic = true;
    word(f, i).text += c;
    i++;
  }
  for (let k = stack.length - 1; k >= 0; k--) if (stack[k]!.kind === 'top' || stack[k]!.kind === 'bq') endCommand(stack[k]!);
  return { tags, commands };

  /** Record the tags that start in [from, to) with `context`; true when one carries log text. */
  function tagsIn(from: number, to: number, context: TagContext): boolean {
    let data = false;
    const re = /<([^ <>]+)>/g;
    re.lastIndex = from;
    for (let m = re.exec(text); m && m.index < to; m = re.exec(text)) {
      if (!isTag(m[1]!)) continue;
      tags.push({ at: m.index, name: m[1]!, context });
      if (isData(m[1]!)) data = true;
    }
    return data;
  }

  function markData(f: Frame): void {
    for (const w of wordsAt(f.cur?.at ?? 0)) w.data = true;
  }

  /** At `$` or a backtick: push the frame the expansion opens; returns the next offset. */
  function openExpansion(at: number): number {
    markDynamic(at);
    const c = text[at]!;
    if (c === '`') {
      stack.push(frame('bq'));
      return at + 1;
    }
    const next = text[at + 1];
    if (next === '(' && text[at + 2] === '(') {
      cmdFrame().arithmetic = true;
      const s = frame('arith');
      s.depth = 1;
      stack.push(s);
      return at + 3;
    }
    if (next === '(') {
      stack.push(frame('top'));
      return at + 2;
    }
    if (next === '{') {
      const s = frame('param');
      s.depth = 1;
      stack.push(s);
      return at + 2;
    }
    const w = word(cmdFrame(), at);
    const m = /^[A-Za-z_][A-Za-z0-9_]*|^[0-9@*#?$!-]/.exec(text.slice(at + 1, at + 64));
    w.text += `$${m ? m[0] : ''}`;
    return at + 1 + (m ? m[0].length : 0);
  }

  /** After the newline that ends a line with here-documents: skip their bodies, marking tags. */
  function skipHeredocs(from: number): number {
    let i = from;
    for (const h of heredocs) {
      for (;;) {
        if (i >= n) break;
        const nl = text.indexOf('\n', i);
        const end = nl === -1 ? n : nl;
        const line = text.slice(i, end);
        for (const m of line.matchAll(/<([^ <>]+)>/g)) {
          if (isTag(m[1]!)) tags.push({ at: i + m.index, name: m[1]!, context: 'heredoc' });
        }
        i = end + 1;
        if ((h.strip ? line.replace(/^\t+/, '') : line) === h.delim) break;
      }
    }
    heredocs = [];
    return Math.min(i, n);
  }
}

function contextOf(stack: Frame[], f: Frame, text: string, at: number): TagContext {
  for (const s of stack) {
    if (s.kind === 'bq') return 'backtick';
    if (s.kind === 'param') return 'param';
    if (s.kind === 'arith') return 'arith';
  }
  if (f.kind === 'dq' && text[at - 1] === '\\' && !isEscapedBackslash(text, at - 1)) return 'escaped';
  // The command frame around: a redirection target is read as a file name.
  for (let k = stack.length - 1; k >= 0; k--) {
    const s = stack[k]!;
    if (s.kind === 'top') {
      if (s.redirect) return 'redirect';
      break;
    }
  }
  return f.kind === 'dq' ? 'double' : 'bare';
}

/** True when the backslash at `at` is itself escaped by an odd run before it. */
function isEscapedBackslash(text: string, at: number): boolean {
  let k = at - 1;
  let run = 0;
  while (k >= 0 && text[k] === '\\') {
    run++;
    k--;
  }
  return run % 2 === 1;
}
