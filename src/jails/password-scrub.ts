/**
 * Matched lines are kept with a ban for the administrator. Some mail
 * software logs the password that was tried (vpopmail writes
 * `password fail (pass: 'secret')`), and a mistyped one is often a user's
 * real password: remove it before the line is stored anywhere.
 */
const RULES: [RegExp, string][] = [
  // pass: 'x', password="x", passwd=x, pwd: x
  [/\b(pass(?:word|wd)?|pwd)(\s*[:=]\s*)(?:'[^']*'?|"[^"]*"?|[^\s,;)]+)/gi, '$1$2***'],
  // SMTP AUTH PLAIN/LOGIN carry base64 credentials.
  [/\b(AUTH\s+(?:PLAIN|LOGIN|CRAM-MD5)\s+)\S+/gi, '$1***'],
  // POP3 "PASS secret", IMAP "LOGIN user secret"
  [/\b(PASS\s+)\S.*$/gm, '$1***'],
  [/\b(LOGIN\s+\S+\s+)\S+/g, '$1***'],
];

/** Longest line kept; a log line is written by an attacker and may be anything. */
const MAX_LINE = 1000;

export function scrubPasswords(line: string): string {
  let s = line.length > MAX_LINE ? line.slice(0, MAX_LINE) + '…' : line;
  for (const [re, to] of RULES) s = s.replace(re, to);
  return s;
}

/** Captured fields go to action tags; one that holds a password does not. */
export function scrubFields(fields: Record<string, string>): Record<string, string> {
  let out: Record<string, string> | undefined;
  for (const k of Object.keys(fields)) {
    if (/pass|pwd/i.test(k)) {
      out ??= { ...fields };
      delete out[k];
    }
  }
  return out ?? fields;
}
