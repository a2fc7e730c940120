import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CommandTemplate, bantimeLeft, type TagValues } from '../../src/fleet/command-template.js';
import { octalEscapes } from '../../src/fleet/shell-quote.js';

const base: TagValues = { ip: '203.0.113.9', bantime: 600, until: 1_000_600_000, failures: 5, time: 1_000_000_000, restored: false, fields: {}, now: 1_000_000_000 };

/** What the real /bin/sh prints when it runs the command for a ban, as the shell driver sends it. */
function run(template: string, v: Partial<TagValues> = {}): string {
  return execFileSync('/bin/sh', ['-c', CommandTemplate.compile(template).script({ ...base, ...v })], { encoding: 'utf8' });
}

const scratch = mkdtempSync(join(tmpdir(), 'fleetban-ct-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const HOSTILE = [
  '$(reboot)',
  '`reboot`',
  "it's",
  '"double"',
  'two\nlines',
  'trailing newlines\n\n',
  'carriage\rreturn',
  'a; reboot',
  "'; reboot; '",
  '"; reboot; "',
  '\\',
  '\\\\"',
  '${PATH}',
  '$((1+1))',
  '| & > < * ? ~ #',
  '%s %n %b \\c',
  'ünïcødé ✓',
  '',
];

describe('rendering action commands', () => {
  it('fills in the tags fail2ban actions use', () => {
    expect(run('echo <ip> <family> <bantime> <failures> <time> <fid> <restored>')).toBe('203.0.113.9 inet4 600 5 1000000 203.0.113.9 0\n');
    expect(run('echo <ip> <family> <ip-rev>', { ip: '2001:db8::1' })).toBe(
      '2001:db8::1 inet6 1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.\n',
    );
    expect(run('echo <ip-rev>dnsbl.example')).toBe('9.113.0.203.dnsbl.example\n');
  });

  it('gives the time left of a ban, 0 for one for ever (what ipset and nft read as no timeout)', () => {
    expect(bantimeLeft({ until: 1_000_600_000, now: 1_000_000_000 })).toBe(600);
    expect(bantimeLeft({ until: 1_000_600_000, now: 1_000_599_500 })).toBe(1);
    expect(bantimeLeft({ until: 1_000_600_000, now: 1_000_700_000 })).toBe(1);
    expect(bantimeLeft({ until: null, now: 0 })).toBe(0);
    expect(run('echo <bantime> <bantime-left>', { until: null, bantime: -1 })).toBe('-1 0\n');
  });

  it('refuses to put anything but a canonical address into a command', () => {
    const t = CommandTemplate.compile('ip route add unreachable <ip>');
    expect(() => t.render({ ...base, ip: '203.0.113.9; reboot' })).toThrow(/not a canonical address/);
    expect(() => t.render({ ...base, ip: '2001:DB8::1' })).toThrow(/not a canonical address/);
    expect(t.render({ ...base, ip: '2001:db8::/64' })).toBe('ip route add unreachable 2001:db8::/64');
  });

  it.each(HOSTILE)('passes the log field %j to the command as data, byte for byte', (user) => {
    const fields = { user };
    expect(run(`printf '[%s]' <F-USER>`, { fields })).toBe(`[${user}]`);
    expect(run(`printf '[%s]' "<F-USER>"`, { fields })).toBe(`[${user}]`);
    expect(run(`printf '[%s]' "user=<F-USER>!"`, { fields })).toBe(`[user=${user}!]`);
    expect(run(`printf '[%s]' "$(printf '%s' "<F-USER>")"`, { fields }).replace(/\n+\]$/, ']')).toBe(`[${user.replace(/\n+$/, '')}]`);
    expect(run(`x=<F-USER>; printf '[%s]' "$x"`, { fields })).toBe(`[${user}]`);
    // A comment: nothing is put there, so a newline in the value cannot end it.
    expect(run(`printf ok # <F-USER>`, { fields })).toBe('ok');
  });

  it('never writes a byte of a log value into the command text', () => {
    const v = { ...base, fields: { user: "$(touch /x)'\"`\n" }, matches: ['LOGIN FAILED, user=$(id)'] };
    const t = CommandTemplate.compile('logger -t fleetban "banned <ip> user <F-USER>: <matches>"');
    expect(t.render(v)).toBe('logger -t fleetban "banned 203.0.113.9 user ${f2bV_F_USER}: ${f2bV_matches}"');
    const script = t.script(v);
    expect(script).not.toMatch(/touch|id\)|LOGIN/);
    // Only printf octal escapes carry the value: digits and backslashes.
    expect(script).toContain(`f2bV_F_USER=$(printf '${octalEscapes(v.fields.user)}x')`);
    expect(octalEscapes('A\n\0é')).toBe('\\101\\012\\303\\251');
  });

  it('exports the values as fail2ban does ($f2bV_ names), so a helper program can read them from its environment', () => {
    expect(run('printenv f2bV_F_USER f2bV_matches; : "<F-USER>" "<matches>"', {
      fields: { user: 'bob' },
      matches: ['line 1', 'line 2'],
    })).toBe('bob\nline 1\nline 2\n');
  });

  it('finds the field by its tag name, its bare name or in lower case', () => {
    expect(run('echo <F-USER>', { fields: { 'F-USER': 'a' } })).toBe('a\n');
    expect(run('echo <F-USER>', { fields: { USER: 'b' } })).toBe('b\n');
    expect(run('echo <F-USER>', { fields: { user: 'c' } })).toBe('c\n');
    expect(run('echo [<F-USER>]')).toBe('[]\n');
  });

  it('gives <matches> the matched lines, one a line', () => {
    expect(run('printf "%s|" <matches>', { matches: ['a b', '$(x)'] })).toBe('a b\n$(x)|');
  });

  describe("issue 10's examples, with the real /bin/sh", () => {
    const marker = join(scratch, 'x');
    const line = { user: `$(touch ${marker})` };

    it('the case pattern inside $( ) does not let the substitution run', () => {
      const action = 'logger -t fleetban "banned <ip> user $(case <family> in inet4) echo <F-USER>;; *) echo v6;; esac)"';
      const t = CommandTemplate.compile(action);
      // The issue's own command, logger and all (its exit status does not matter here).
      spawnSync('/bin/sh', ['-c', t.script({ ...base, ip: '198.51.100.111', fields: line })]);
      expect(existsSync(marker)).toBe(false);
      // The same command printing what logger would have been given.
      const shown = run(action.replace('logger -t fleetban', "printf '%s\\n'"), { ip: '198.51.100.111', fields: line });
      expect(shown).toBe(`banned 198.51.100.111 user $(touch ${marker})\n`);
      expect(run(action.replace('logger -t fleetban', "printf '%s\\n'"), { ip: '2001:db8::1', fields: line })).toBe('banned 2001:db8::1 user v6\n');
      expect(readdirSync(scratch)).toEqual([]);
    });

    it.each([
      [`sh -c 'echo <F-USER>'`, /single quotes/],
      [`sh -c "echo <F-USER>"`, /runs sh/],
      [`/bin/bash -c "logger <F-USER>"`, /runs bash/],
      [`eval "logger <F-USER>"`, /runs eval, which parses its arguments as shell code/],
      [`x="<F-USER>"; eval "logger $x"`, /runs eval/],
      [`su -c "logger <F-USER>" nobody`, /runs su/],
      [`ssh backup logger "<F-USER>"`, /runs ssh, which joins its arguments/],
      [`echo "<F-USER>" | xargs logger`, /runs xargs/],
      [`echo "<F-USER>" | sh`, /runs sh/],
      [`env sh -c "echo <F-USER>"`, /runs env with "sh"/],
      [`timeout 5 sh -c "echo <F-USER>"`, /runs timeout with "sh"/],
      [`logger \\<F-USER>`, /after a backslash/],
      [`logger "\\<F-USER>"`, /after a backslash/],
      ['logger `echo <F-USER>`', /inside backticks/],
      ['logger ${x:-<F-USER>}', /inside \$\{\.\.\.\}/],
      ['logger $((<F-USER>))', /arithmetic/],
      ['cat <<EOF\n<F-USER>\nEOF', /here-document/],
      [`"<F-USER>" --help`, /would name the program to run/],
      [`$prog "<F-USER>"`, /named by an expansion/],
      [`awk "BEGIN { print \\"<F-USER>\\" }"`, /runs awk with a program that is not constant/],
      [`echo hi > "<F-USER>"`, /name of a file/],
      [`printf -v x "%s" "<F-USER>"`, /printf -v/],
    ])('refuses %j', (action, why) => {
      expect(() => CommandTemplate.compile(action)).toThrow(why);
      expect(() => CommandTemplate.compile(action)).toThrow(/^<F-USER> carries text from log lines/);
    });

    it('accepts the forms fail2ban\'s own actions use', () => {
      for (const ok of [
        `lgm=$(printf '%.1000s\\n...' "<matches>"); curl -sSf "https://example.invalid/" --data-urlencode "comment=$lgm" --data-urlencode "ip=<ip>"`,
        `curl --fail --data-urlencode "logs=<matches><br>" "https://example.invalid/"`,
        `printf %b "Subject: banned <ip>\\n Matches:\\n <matches>\\n" | /usr/sbin/sendmail -f "fail2ban" "root"`,
        `(printf -- %b "header"; date '+%z'; printf -- %b "\\n<ipmatches>\\n") | /usr/sbin/sendmail -f x $ADDRESSES`,
        `echo "<F-USER>" | sed 's/a/b/' | awk '{ print }'`,
        `nft 'add element inet f2b-table addr-set-x { <ip> }'`,
      ]) {
        expect(() => CommandTemplate.compile(ok), ok).not.toThrow();
      }
    });
  });
});
