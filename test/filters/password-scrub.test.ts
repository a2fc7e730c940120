import { describe, expect, it } from 'vitest';
import { scrubFields, scrubPasswords } from '../../src/filters/password-scrub.js';

describe('passwords mail software logs never leave fleetban', () => {
  it.each([
    ["vchkpw-pop3: password fail (pass: 'hunter2') bob@example.com:203.0.113.5", "vchkpw-pop3: password fail (pass: '***') bob@example.com:203.0.113.5"],
    ["vchkpw-smtp: password fail (pass: 'a') b') c') bob:203.0.113.5", "vchkpw-smtp: password fail (pass: '***') bob:203.0.113.5"],
    ['error,relay=::ffff:203.0.113.9,msg="535 Authentication failed.",cmd: AUTH PLAIN AGJvYgBzZWNyZXQ=', 'error,relay=::ffff:203.0.113.9,msg="535 Authentication failed.",cmd: AUTH PLAIN ***'],
    ['auth: user=bob password=s3cret method=plain', 'auth: user=bob password=*** method=plain'],
    ['client said PASS s3cret and left', 'client said PASS ***'],
    ['a001 LOGIN bob s3cret', 'a001 LOGIN bob ***'],
  ])('%j', (line, want) => {
    expect(scrubPasswords(line)).toBe(want);
  });

  it("leaves Courier's own LOGIN lines as they are", () => {
    for (const line of [
      'imapd: LOGIN FAILED, user=bob@example.com, ip=[::ffff:203.0.113.5]',
      'imapd: LOGIN, user=bob@example.com, ip=[::ffff:198.51.100.2], port=[41234], protocol=IMAP',
    ]) {
      expect(scrubPasswords(line)).toBe(line);
    }
  });

  it('drops password fields and scrubs the others, without touching the original', () => {
    const fields = { user: 'bob', passwd: 'x', note: "(pass: 'y') z" };
    expect(scrubFields(fields)).toEqual({ user: 'bob', note: "(pass: '***') z" });
    expect(fields.passwd).toBe('x');
    const clean = { user: 'bob' };
    expect(scrubFields(clean)).toBe(clean);
  });
});
