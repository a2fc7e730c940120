import { describe, expect, it } from 'vitest';
import { translatePythonRegex } from '../../src/filters/python-regex.js';
import { requiredLiterals, wordStarted } from '../../src/filters/required-literal.js';
import { loadFilter } from '../../src/filters/filter.js';

function literals(py: string): string[] | null {
  const t = translatePythonRegex(py);
  return requiredLiterals(t.source, t.flags);
}

describe('the literal pre-check', () => {
  it('takes the longest run every match goes through', () => {
    expect(literals('^\\s*(?:\\S+\\s+)?LOGIN FAILED, (?:\\w+=[^,]*, )*ip=\\[(?P<ip>[^\\]]+)\\]$')).toEqual(['LOGIN FAILED, ']);
  });

  it('needs a literal in every alternative, and then takes one of each', () => {
    expect(literals('^(?:password fail|user not found) x')).toEqual(['password fail', 'user not found']);
    expect(literals('^(?:password fail|\\d+) x')).toEqual([' x']);
    expect(literals('^(?:a|\\d+)')).toBeNull();
  });

  it('skips what is optional or repeated zero times', () => {
    expect(literals('^(?:optional part)?x+y{0,3}(?:zz)*$')).toEqual(['x']);
  });

  it('reads escapes and lookarounds as what they match', () => {
    expect(literals('msg="535 Authentication failed\\.",cmd:(?= )')).toEqual(['msg="535 Authentication failed.",cmd:']);
  });

  it('gives up on case-insensitive letters', () => {
    expect(literals('(?i)login failed')).toBeNull();
    expect(literals('^(?i:login) FAILED')).toEqual([' FAILED']);
  });

  it('drops leading non-word characters for the raw-line check (a date cut may glue them)', () => {
    expect(wordStarted(['[] x', ': 550 User '])).toEqual(['x', '550 User ']);
    expect(wordStarted(['[]'])).toBeNull();
  });

  it('a bracketed date cut out of the line leaves `[]`, and the filter still finds it', () => {
    const f = loadFilter('/nonexistent', '^\\[\\] \\S+ imapd: LOGIN FAILED, ip=\\[<HOST>\\]$', { datepattern: '{^LN-BEG}' });
    expect(f.lineClauses).toEqual([['imapd: LOGIN FAILED, ip=[']]);
    expect(f.matchLine('[Mar  1 10:00:00] mx1 imapd: LOGIN FAILED, ip=[203.0.113.4]')).toMatchObject({ kind: 'failure', match: { ip: '203.0.113.4' } });
  });
});
