/**
 * Some daemons write the password a client tried into their log: vpopmail's
 * vchkpw does, as `password fail (pass: 'hunter2') user@domain:1.2.3.4`.
 * Those are often real passwords of real users (a typo away from the right
 * one), so fleetban never stores, prints or forwards them: every line and
 * field that leaves the filter engine goes through `scrubPasswords`.
 *
 * The tried password is attacker-chosen text and may itself contain `') `;
 * the hidden span therefore runs to the LAST `') ` of the text (vchkpw writes
 * the user and address after it, and those cannot be what hides a
 * password), so at worst too much is hidden, never too little.
 */

export const VCHKPW_OPEN = "(pass: '";
export const HIDDEN = '***';

/** Field names that hold a password whatever a filter calls them. */
export const PASSWORD_FIELDS: ReadonlySet<string> = new Set(['pass', 'password', 'passwd', 'pw', 'pwd', 'secret']);

/**
 * Credentials other mail software may log, hidden wherever they appear:
 * `password=x` / `pass: x` / `pwd=x`, SMTP `AUTH PLAIN|LOGIN` base64, POP3
 * `PASS x` and IMAP `LOGIN user secret` (not Courier's `LOGIN FAILED, ...`
 * or `LOGIN, user=...`, whose first word ends at a comma).
 */
const CREDENTIALS: [RegExp, string][] = [
  [/\b(pass(?:word|wd)?|pwd)(\s*[:=]\s*)(?!'\*\*\*')(?:'[^']*'?|"[^"]*"?|[^\s,;)]+)/gi, '$1$2***'],
  [/\b(AUTH\s+(?:PLAIN|LOGIN|CRAM-MD5)\s+)\S+/gi, '$1***'],
  [/\b(PASS\s+)\S.*$/gm, '$1***'],
  [/\b(LOGIN\s+[^\s,]+\s+)(?!\*\*\*)\S+/g, '$1***'],
];

/** One cheap test that rules out every CREDENTIALS rule for most lines (this runs on every match). */
const MAY_HOLD_CREDENTIALS = /pass|pwd|\bAUTH\s|\bLOGIN\s+[^\s,]+\s/i;

/** The text with any logged password replaced by `***`. */
export function scrubPasswords(text: string): string {
  let out = scrubVchkpw(text);
  if (!MAY_HOLD_CREDENTIALS.test(out)) return out;
  for (const [re, to] of CREDENTIALS) out = out.replace(re, to);
  return out;
}

/** vchkpw's `(pass: '...')`, hidden up to the last `') ` (see the module comment). */
function scrubVchkpw(text: string): string {
  let at = text.indexOf(VCHKPW_OPEN);
  if (at === -1) return text;
  let out = '';
  let from = 0;
  while (at !== -1) {
    const start = at + VCHKPW_OPEN.length;
    let end = text.lastIndexOf("') ");
    if (end < start) end = text.lastIndexOf("')");
    if (end < start) end = text.length; // unterminated: hide everything after the opening
    out += text.slice(from, start) + HIDDEN;
    from = end;
    at = text.indexOf(VCHKPW_OPEN, end);
  }
  return out + text.slice(from);
}

/**
 * Captured fields without password fields (any name mentioning pass, pwd or
 * secret) and with any logged password scrubbed from the rest. Returns a new
 * object when something changed.
 */
export function scrubFields(fields: Record<string, string>): Record<string, string> {
  let out: Record<string, string> | undefined;
  for (const k of Object.keys(fields)) {
    if (PASSWORD_FIELDS.has(k) || /pass|pwd|secret/i.test(k)) {
      out ??= { ...fields };
      delete out[k];
      continue;
    }
    const v = fields[k]!;
    const clean = scrubPasswords(v);
    if (clean !== v) {
      out ??= { ...fields };
      out[k] = clean;
    }
  }
  return out ?? fields;
}
