import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../helpers/requirements.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const CONF = join(ROOT, 'conf');

/** Run the CLI from the source tree, as a user would run `fleetban`. */
function fleetban(...args: string[]) {
  return execa('npx', ['tsx', join(ROOT, 'src/cli/main.ts'), '-c', CONF, ...args], { reject: false, cwd: ROOT });
}

let dir: string;
let log: string;

const LINES = [
  'Mar  1 10:00:00 mx1 imapd: LOGIN FAILED, user=alice@example.com, ip=[::ffff:203.0.113.5]',
  'Mar  1 10:00:01 mx1 imapd: LOGIN, user=bob@example.com, ip=[::ffff:192.0.2.10], port=[4000], protocol=IMAP',
  '# a comment fail2ban-regex skips',
  "Mar  1 10:00:02 mx2 vpopmail[9]: vchkpw-pop3: password fail (pass: 'Tr0ub4dor&3') carol@example.com:198.51.100.7",
  'Mar  1 10:00:03 mx2 pop3d-ssl: LOGIN FAILED, method=PLAIN, ip=[2001:DB8:0:0::1]',
];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fleetban-regex-cli-'));
  log = join(dir, 'mail.log');
  writeFileSync(log, LINES.join('\n') + '\n');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('fleetban regex', () => {
  it('--json prints the counts, hits per regex and every failure with its line, canonical address and time', async () => {
    const r = await fleetban('regex', log, 'courier-auth', '--json');
    expect(r.exitCode).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ lines: 4, matched: 2, ignored: 0, missed: 2 });
    expect(out.regexes).toHaveLength(1);
    expect(out.regexes[0].hits).toBe(2);
    const year = new Date().getUTCFullYear();
    expect(out.hits).toEqual([
      { line: 1, ip: '203.0.113.5', time: expect.stringMatching(/^\d{4}-03-01T10:00:00\.000Z$/), fields: { user: 'alice@example.com' } },
      { line: 5, ip: '2001:db8::1', time: expect.stringMatching(/-03-01T10:00:03\.000Z$/), fields: {} },
    ]);
    expect(Number(out.hits[0].time.slice(0, 4))).toBeLessThanOrEqual(year + 1);
  });

  it('prints the summary in human form, and never a logged password', async () => {
    const r = await fleetban('regex', log, 'courier-auth');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/Lines: 4 lines, 0 ignored, 2 matched, 2 missed/);
    expect(r.stdout).toMatch(/\|\s+1\) \[2\] \^/);
    // The vchkpw line is a missed line here and is printed, without its password.
    expect(r.stdout).toContain("vchkpw-pop3: password fail (pass: '***') carol@example.com:198.51.100.7");
    expect(r.stdout + r.stderr).not.toContain('Tr0ub4dor');
  });

  it('the vpopmail filter reports the failure without the password, in both forms', async () => {
    const json = await fleetban('regex', log, 'vpopmail', '--json');
    expect(JSON.parse(json.stdout).hits).toEqual([
      { line: 4, ip: '198.51.100.7', time: expect.any(String), fields: { user: 'carol@example.com' } },
    ]);
    const human = await fleetban('regex', log, 'vpopmail');
    expect(json.stdout + human.stdout + human.stderr).not.toContain('Tr0ub4dor');
  });

  it('takes a single line instead of a file, exit 0 when it matches and 1 when not', async () => {
    const yes = await fleetban('regex', LINES[0]!, 'courier-auth');
    expect(yes.exitCode).toBe(0);
    expect(yes.stdout).toMatch(/1 matched/);
    const no = await fleetban('regex', LINES[1]!, 'courier-auth');
    expect(no.exitCode).toBe(1);
    expect(no.stdout).toMatch(/0 matched/);
  });

  it('takes a bare regex as the filter', async () => {
    const r = await fleetban('regex', log, 'LOGIN FAILED, .*ip=\\[<HOST>\\]$', '--json');
    expect(JSON.parse(r.stdout).matched).toBe(2);
  });

  it('a broken filter file is exit code 2 with the file, line and key', async () => {
    const bad = join(dir, 'broken.conf');
    writeFileSync(bad, '[Definition]\nfailregex = ^ok <HOST>$\n            ^(?:(?P<user>x)?(?(user)a|b))+ <HOST>\n');
    const r = await fleetban('regex', log, bad);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`${bad}:3: [Definition] failregex:`);
    // A conditional on a group inside a repetition has no faithful translation.
    expect(r.stderr).toMatch(/group 'user' of a conditional is repeated/);
  });

  it('an unknown filter name or a missing log file is exit code 2', async () => {
    const a = await fleetban('regex', log, 'no-such-filter');
    expect(a.exitCode).toBe(2);
    expect(a.stderr).toMatch(/no filter "no-such-filter"/);
    const b = await fleetban('regex', './no-such.log', 'courier-auth');
    expect(b.exitCode).toBe(2);
    expect(b.stderr).toMatch(/no such log file/);
  });
});

describe.skipIf(missing("fleetban regex with fail2ban's filter files", { commands: ['fail2ban-regex'] }))(
  "fleetban regex with fail2ban's own filter.d",
  () => {
    it('reads /etc/fail2ban/filter.d/courier-auth.conf with its [INCLUDES]', async () => {
      const r = await fleetban('regex', log, '/etc/fail2ban/filter.d/courier-auth.conf', '--json');
      expect(r.exitCode, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).hits.map((h: { ip: string }) => h.ip)).toEqual(['203.0.113.5', '2001:db8::1']);
    });
  },
);
