import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CommandTemplate, bantimeLeft, type TagValues } from '../../src/fleet/command-template.js';

const base: TagValues = { ip: '203.0.113.9', bantime: 600, until: 1_000_600_000, failures: 5, time: 1_000_000_000, restored: false, fields: {}, now: 1_000_000_000 };

/** What sh prints when it runs the rendered command. */
function run(template: string, v: Partial<TagValues> = {}): string {
  return execFileSync('/bin/sh', ['-c', CommandTemplate.compile(template).render({ ...base, ...v })], { encoding: 'utf8' });
}

const HOSTILE = [
  '$(reboot)',
  '`reboot`',
  "it's",
  '"double"',
  'two\nlines',
  'a; reboot',
  "'; reboot; '",
  '"; reboot; "',
  '\\',
  '${PATH}',
  '$((1+1))',
  '| & > < * ? ~ #',
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

  it.each(HOSTILE)('passes the log field %j to the command as one literal word, bare or quoted', (user) => {
    const fields = { user };
    expect(run(`printf '[%s]' <F-USER>`, { fields })).toBe(`[${user}]`);
    expect(run(`printf '[%s]' "<F-USER>"`, { fields })).toBe(`[${user}]`);
    expect(run(`printf '[%s]' "user=<F-USER>!"`, { fields })).toBe(`[user=${user}!]`);
    expect(run(`printf '[%s]' 'user=<F-USER>!'`, { fields })).toBe(`[user=${user}!]`);
    expect(run(`printf '[%s]' "$(printf '%s' "<F-USER>")"`, { fields })).toBe(`[${user}]`);
    // A comment: the value is dropped, a newline in it cannot end the comment.
    expect(run(`printf ok # <F-USER>`, { fields })).toBe('ok');
  });

  it('finds the field by its tag name, its bare name or in lower case', () => {
    expect(run('echo <F-USER>', { fields: { 'F-USER': 'a' } })).toBe('a\n');
    expect(run('echo <F-USER>', { fields: { USER: 'b' } })).toBe('b\n');
    expect(run('echo <F-USER>', { fields: { user: 'c' } })).toBe('c\n');
    expect(run('echo [<F-USER>]')).toBe('[]\n');
  });

  it('refuses log text where sh would read it in ways quoting cannot cover', () => {
    expect(() => CommandTemplate.compile('echo `echo <F-USER>`')).toThrow(/cannot be quoted safely inside backticks/);
    expect(() => CommandTemplate.compile('echo ${x:-<F-USER>}')).toThrow(/cannot be quoted safely/);
    expect(() => CommandTemplate.compile('cat <<EOF\n<F-USER>\nEOF')).toThrow(/here-document/);
    expect(() => CommandTemplate.compile('echo <matches>', { allowUntrusted: false })).toThrow(/carries text from log lines/);
    // Trusted tags are fine anywhere: they are addresses and numbers.
    expect(CommandTemplate.compile('cat <<EOF\n<ip>\nEOF').render(base)).toBe('cat <<EOF\n203.0.113.9\nEOF');
  });

  it('leaves tags it does not know as they are', () => {
    expect(CommandTemplate.compile('echo <unknown> <ip>').render(base)).toBe('echo <unknown> 203.0.113.9');
  });
});
