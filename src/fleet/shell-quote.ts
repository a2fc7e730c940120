/**
 * How values reach POSIX sh.
 *
 * Values from log lines are never quoted into command text. They travel as
 * data: each is written as printf octal escapes (`\101` for `A`), which hold
 * only backslashes and digits whatever the value's bytes, and decoded by the
 * remote shell's own printf into a variable. Quotes, `$`, backticks,
 * newlines, carriage returns, invalid UTF-8: every byte but NUL arrives as it
 * was, and no byte of the value is ever read by the shell's parser. NUL
 * cannot be held in a shell variable (nor in an environment variable, where
 * fail2ban passes its `$f2bV_` values) and is dropped.
 */

/** `it's` -> `'it'\''s'`: one word for sh, for the few values fleetban quotes (its own ssh options). */
export function shellQuote(value: string): string {
  return `'${value.replace(/\0/g, '').replace(/'/g, `'\\''`)}'`;
}

/** A value as printf octal escapes of its UTF-8 bytes, NUL dropped. */
export function octalEscapes(value: string): string {
  let out = '';
  for (const b of Buffer.from(value, 'utf8')) {
    if (b === 0) continue;
    out += `\\${b.toString(8).padStart(3, '0')}`;
  }
  return out;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Shell text that sets and exports one variable per value:
 *   f2bV_F_USER=$(printf '\044\050...x'); f2bV_F_USER=${f2bV_F_USER%x}; export f2bV_F_USER
 * The trailing x keeps the newlines a command substitution would strip at
 * the end of the value. Names are fleetban's own (command-template.ts).
 */
export function dataAssignments(values: readonly { name: string; value: string }[]): string {
  const out: string[] = [];
  for (const { name, value } of values) {
    if (!NAME.test(name)) throw new Error(`not a variable name: ${JSON.stringify(name)}`);
    out.push(`${name}=$(printf '${octalEscapes(value)}x'); ${name}=\${${name}%x}; export ${name}`);
  }
  return out.join('\n');
}
