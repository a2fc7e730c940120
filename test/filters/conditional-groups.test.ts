import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadFilter } from '../../src/filters/filter.js';
import { CompiledRegex } from '../../src/filters/compiled-regex.js';
import { ConditionalError, rewriteConditionals } from '../../src/filters/conditional-groups.js';
import { missing } from '../helpers/requirements.js';

/**
 * Conditional groups `(?(name)yes|no)` are rewritten into alternatives.
 * The reference is Python's own `re` (python3, run by the test on the same
 * inputs): the same inputs must match at the same place with the same
 * groups, including which `<HOST>` and user a line yields.
 */

interface PyResult {
  span: [number, number];
  groups: Record<string, string | null>;
}

/** re.search of each pattern on each input, by python3. `fail2ban: true` compiles with fail2ban's Regex (its tag expansion). */
function pythonSearch(cases: Array<{ pattern: string; inputs: string[]; fail2ban?: boolean }>): Array<Array<PyResult | null>> {
  const script = `
import json, re, sys
cases = json.load(sys.stdin)
out = []
for c in cases:
    if c.get('fail2ban'):
        from fail2ban.server.failregex import Regex
        rx = Regex(c['pattern'], useDns='no')._regexObj
    else:
        rx = re.compile(c['pattern'])
    res = []
    for s in c['inputs']:
        m = rx.search(s)
        res.append(None if m is None else {'span': list(m.span()), 'groups': dict(sorted(m.groupdict().items()))})
    out.append(res)
json.dump(out, sys.stdout)
`;
  // fail2ban's modules belong to Debian's python3 (the one fail2ban-regex runs on).
  const out = execFileSync(PYTHON, ['-c', script], { input: JSON.stringify(cases), maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(out.toString()) as Array<Array<PyResult | null>>;
}

function ours(re: RegExp, s: string): PyResult | null {
  const m = re.exec(s);
  if (!m) return null;
  const groups: Record<string, string | null> = {};
  for (const k of Object.keys(m.groups ?? {}).sort()) groups[k] = m.groups![k] ?? null;
  return { span: [m.index, m.index + m[0].length], groups };
}

function compile(pattern: string): RegExp {
  return new CompiledRegex({ text: pattern, where: {} }, 'failregex', { useDns: false }).re;
}

/** A deterministic stream of pseudo-random numbers (the same inputs on every run). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function soup(tokens: string[], n: number, seed: number, prefix = ''): string[] {
  const r = rng(seed);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let s = r() < 0.8 ? prefix : '';
    const len = 1 + Math.floor(r() * 10);
    for (let k = 0; k < len; k++) s += tokens[Math.floor(r() * tokens.length)]!;
    out.push(s);
  }
  return out;
}


const PYTHON = '/usr/bin/python3';
/** sshd's "Failed ..." lines, well-formed and slightly broken: users with spaces, " from " and colons in them. */
function sshLines(n: number, seed: number): string[] {
  const r = rng(seed);
  const pick = (xs: string[]) => xs[Math.floor(r() * xs.length)]!;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let s = 'Failed ' + pick(['password', 'publickey', 'none', 'keyboard-interactive/pam']) + ' for ';
    if (r() < 0.4) s += 'invalid user ';
    s += pick(['root', 'admin', 'a b', 'x from 198.51.100.2', 'u:v', '', 'from', 'bob port 1']);
    if (r() < 0.9) s += ' from ' + pick(['203.0.113.7', '2001:db8::1', '198.51.100.2', 'host']);
    if (r() < 0.6) s += pick([' port 22', ' port 2222 on 203.0.113.9', ' on 1.2.3.4 port 9']);
    if (r() < 0.5) s += ' ssh2';
    if (r() < 0.5) s += pick([': RSA SHA256:abc', ':', ': x from 203.0.113.8', ' tail', ' from 203.0.113.8']);
    out.push(s);
  }
  return out;
}

const skip = missing('conditional groups against Python', { commands: [PYTHON, 'fail2ban-regex'] });

describe.skipIf(skip)("conditional groups match what Python's re matches", () => {
  it('on synthetic patterns: optional groups, alternations, lazy, numbered, nested, no-branch omitted', () => {
    const patterns = [
      '^(?P<a>x)?(?(a)y|z)$',
      '(?P<a>x)??(?(a)y|z)',
      '(?:(?P<a>a+)|b)(?(a)c|d)+e',
      '^(?:b|(?P<a>a))(?(a)c|d)',
      '^(x)?(?(1)y|z)(?P<t>\\w*)',
      '^(?P<a>a)?(?P<b>b)?(?(a)(?(b)AB|A)|(?(b)B|N))$',
      '(?P<a>a)?b(?(a)c)',
      '^(?:(?P<a>x)|(?(a)y|z))w',
      '^(?P<u>(?P<c>\\S+)|(?:(?! from ).)*?) from (?P<h>\\d+)(?(c): |.*$)',
      '^p(?P<i>i )?(?P<u>(?P<c>\\S+)|(?(i)(?:(?! f ).)*?|[^:]+)) f (?P<h>\\w+)(?(c): |(?:(?:(?! f ).)*)$)',
    ];
    const tokens = ['x', 'y', 'z', 'a', 'b', 'c', 'd', 'e', 'w', 'A', 'B', 'N', ' from ', ' f ', 'i ', 'p', ': ', ':', '1', '22', ' '];
    const cases = patterns.map((pattern, i) => ({ pattern, inputs: soup(tokens, 3000, 17 + i) }));
    const theirs = pythonSearch(cases);
    cases.forEach((c, i) => {
      const re = compile(c.pattern);
      const mine = c.inputs.map((s) => ours(re, s));
      const diffs = c.inputs.filter((_, k) => JSON.stringify(mine[k]) !== JSON.stringify(theirs[i]![k]));
      expect(diffs, `${c.pattern}: first inputs that differ`).toEqual([]);
      // Not vacuous: both outcomes occur.
      expect(theirs[i]!.some((r) => r !== null), c.pattern).toBe(true);
    });
  });

  it("on sshd.conf's own failregexes (every mode and publickey option), through fail2ban's tag expansion", () => {
    const cases: Array<{ pattern: string; inputs: string[]; fail2ban: boolean }> = [];
    const regexes: RegExp[] = [];
    const optionSets: Array<Record<string, string>> = [{}, { publickey: 'invalid' }, { publickey: 'any' }, { mode: 'aggressive' }];
    for (const opts of optionSets) {
      // Python's side expands the tags with useDns='no': so does this one.
      const f = loadFilter('/nonexistent', '/etc/fail2ban/filter.d/sshd.conf', { ...opts, usedns: 'no' });
      for (const r of f.failregex) {
        if (!r.text.includes('(?(')) continue;
        cases.push({ pattern: r.text, inputs: sshLines(4000, cases.length + 5), fail2ban: true });
        regexes.push(r.re);
      }
    }
    expect(cases.length).toBeGreaterThanOrEqual(4);
    const theirs = pythonSearch(cases);
    let matched = 0;
    cases.forEach((c, i) => {
      const mine = c.inputs.map((s) => ours(regexes[i]!, s));
      const diffs = c.inputs.filter((_, k) => JSON.stringify(mine[k]) !== JSON.stringify(theirs[i]![k]));
      expect(diffs, `first inputs that differ for ${c.pattern.slice(0, 60)}`).toEqual([]);
      matched += theirs[i]!.filter((r) => r !== null).length;
    });
    expect(matched).toBeGreaterThan(500);
  });
});

describe('conditional groups that cannot be translated exactly are refused, naming why', () => {
  it('a group inside a repetition, a group inside a lookaround, a choice before the group in its capture', () => {
    expect(() => rewriteConditionals('(?:(?P<a>x)y)*(?(a)b|c)')).toThrow(ConditionalError);
    expect(() => rewriteConditionals('(?:(?=(?P<a>x))|y)(?(a)x|c)')).toThrow(/lookaround/);
    expect(() => rewriteConditionals('(?P<u>(?:q|r)(?P<a>x)?)(?(a)b|c)')).toThrow(/order/);
    expect(() => rewriteConditionals('(?P<a>x)?(?(zz)b|c)')).toThrow(/unknown group name 'zz'/);
    // Python refuses a condition on a group defined after it, and so do we.
    expect(() => rewriteConditionals('^(?(a)y|z)(?P<a>x)?')).toThrow(/unknown group name 'a'/);
  });

  it('leaves patterns without conditionals alone', () => {
    expect(rewriteConditionals('^a(b)?c$')).toEqual({ pattern: '^a(b)?c$', aliases: new Map() });
  });
});
