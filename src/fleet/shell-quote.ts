/**
 * Quoting for POSIX sh. Every value fleetban puts into a remote command that
 * is not a canonical IP address or a number goes through here.
 */

/** `it's` -> `'it'\''s'`: one word for sh, whatever the bytes (NUL cannot travel and is dropped). */
export function shellQuote(value: string): string {
  return `'${value.replace(/\0/g, '').replace(/'/g, `'\\''`)}'`;
}

/**
 * Where in a command a tag stands, as sh will read it. The replacement differs
 * per context so that the value is one literal word in each.
 */
export type ShellContext = 'bare' | 'single' | 'double' | 'comment' | 'unsafe';

/** The replacement text for an untrusted value standing in `ctx`. */
export function quoteFor(ctx: ShellContext, value: string): string {
  const q = shellQuote(value);
  switch (ctx) {
    case 'bare':
      return q;
    // Close the surrounding quote, add the single-quoted word, reopen it: sh
    // joins adjacent quoted parts into one word.
    case 'single':
      return `'${q}'`;
    case 'double':
      return `"${q}"`;
    // A comment ends at a newline, so a value with one would escape it: drop it.
    case 'comment':
      return '';
    case 'unsafe':
      throw new Error('a value cannot be placed here safely');
  }
}

/**
 * The sh context at each offset of `text`, as far as fleetban needs it:
 * quotes, backslash escapes, `$( )` nesting and comments. Regions sh reads
 * in ways that are hard to quote for (backticks, `${...}`, `$((...))`, and
 * everything after a here-document operator) are 'unsafe'.
 */
export function shellContexts(text: string): ShellContext[] {
  const out: ShellContext[] = new Array(text.length);
  // Each frame: the quote we are in within one $( ) level.
  type Frame = { kind: 'top' | 'dq' };
  const stack: Frame[] = [{ kind: 'top' }];
  let single = false;
  let comment = false;
  let unsafeDepth = 0; // inside `...`, ${...} or $((...)): count the closers to find
  let unsafeCloser = '';
  let heredoc = false;
  let prevWordBreak = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const frame = stack[stack.length - 1]!;
    if (heredoc) {
      out[i] = 'unsafe';
      continue;
    }
    if (unsafeDepth > 0) {
      out[i] = 'unsafe';
      if (unsafeCloser === '`' && c === '`') unsafeDepth = 0;
      else if (unsafeCloser === '}' && c === '{') unsafeDepth++;
      else if (unsafeCloser === '}' && c === '}') unsafeDepth--;
      else if (unsafeCloser === '))' && c === '(') unsafeDepth++;
      else if (unsafeCloser === '))' && c === ')') {
        unsafeDepth--;
        if (unsafeDepth === 1 && text[i + 1] === ')') {
          out[++i] = 'unsafe';
          unsafeDepth = 0;
        }
      }
      continue;
    }
    if (comment) {
      out[i] = 'comment';
      if (c === '\n') {
        comment = false;
        prevWordBreak = true;
      }
      continue;
    }
    if (single) {
      out[i] = 'single';
      if (c === "'") single = false;
      continue;
    }
    const inDq = frame.kind === 'dq';
    out[i] = inDq ? 'double' : 'bare';
    if (c === '\\') {
      // The escaped character is literal; a tag cannot start there.
      if (i + 1 < text.length) out[++i] = inDq ? 'double' : 'bare';
      prevWordBreak = false;
      continue;
    }
    if (c === '`') {
      out[i] = 'unsafe';
      unsafeDepth = 1;
      unsafeCloser = '`';
      continue;
    }
    if (c === '$' && text[i + 1] === '{') {
      out[i] = 'unsafe';
      out[++i] = 'unsafe';
      unsafeDepth = 1;
      unsafeCloser = '}';
      continue;
    }
    if (c === '$' && text[i + 1] === '(' && text[i + 2] === '(') {
      out[i] = out[i + 1] = out[i + 2] = 'unsafe';
      i += 2;
      unsafeDepth = 2;
      unsafeCloser = '))';
      continue;
    }
    if (c === '$' && text[i + 1] === '(') {
      out[++i] = out[i - 1]!;
      stack.push({ kind: 'top' });
      prevWordBreak = true;
      continue;
    }
    if (inDq) {
      if (c === '"') stack.pop();
      continue;
    }
    // Unquoted.
    if (c === "'") {
      single = true;
      prevWordBreak = false;
      continue;
    }
    if (c === '"') {
      stack.push({ kind: 'dq' });
      prevWordBreak = false;
      continue;
    }
    if (c === '(') {
      // A subshell: its own level, closed by the matching ')'.
      stack.push({ kind: 'top' });
      prevWordBreak = true;
      continue;
    }
    if (c === ')' && stack.length > 1) {
      stack.pop();
      prevWordBreak = true;
      continue;
    }
    if (c === '#' && prevWordBreak) {
      out[i] = 'comment';
      comment = true;
      continue;
    }
    if (c === '<' && text[i + 1] === '<') {
      heredoc = true;
      out[i] = 'unsafe';
      continue;
    }
    prevWordBreak = /[\s;&|()<>]/.test(c);
  }
  return out;
}
