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

/** The text with any logged password replaced by `***`. */
export function scrubPasswords(text: string): string {
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

/** Captured fields without password fields, and with any logged password scrubbed from the rest. */
export function scrubFields(fields: Record<string, string>): Record<string, string> {
  for (const k of Object.keys(fields)) {
    if (PASSWORD_FIELDS.has(k)) delete fields[k];
    else if (fields[k]!.includes(VCHKPW_OPEN)) fields[k] = scrubPasswords(fields[k]!);
  }
  return fields;
}
