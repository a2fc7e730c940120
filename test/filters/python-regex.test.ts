import { describe, expect, it } from 'vitest';
import { RegexSyntaxError, translatePythonRegex } from '../../src/filters/python-regex.js';

/** Compile a Python regex the way the filter engine does and run it. */
function py(pattern: string): RegExp {
  const t = translatePythonRegex(pattern);
  return new RegExp(t.source, t.flags);
}

describe('Python regex syntax in JavaScript', () => {
  it('turns (?P<name>...) and (?P=name) into named groups and backreferences', () => {
    const re = py('^(?P<user>\\w+)@(?P<dom>[a-z.]+) again (?P=user)$');
    const m = re.exec('bob@example.com again bob');
    expect(m?.groups).toEqual({ user: 'bob', dom: 'example.com' });
    expect(re.test('bob@example.com again eve')).toBe(false);
  });

  it('reads leading global flags as flags', () => {
    expect(py('(?i)login failed').test('LOGIN FAILED')).toBe(true);
    expect(py('(?s)a.b').test('a\nb')).toBe(true);
    expect(py('a.b').test('a\nb')).toBe(false);
  });

  it('emulates scoped (?i:...) on Node 20, which has no regex modifiers', () => {
    const re = py('^(?i:login) FAILED [a-c]$');
    expect(re.test('LoGiN FAILED b')).toBe(true);
    expect(re.test('login failed b')).toBe(false);
    expect(py('^(?i:[a-c]+)$').test('AbC')).toBe(true);
  });

  it("matches Python's Unicode classes, so a user name with é cannot slip past", () => {
    expect(py('^\\w+=x$').test('é=x')).toBe(true);
    expect(py('^\\d$').test('٣')).toBe(true);
    // Python's . stops only at \n; JavaScript's also at \r.
    expect(py('^a.b$').test('a\rb')).toBe(true);
    // \s includes the information separators \x1c-\x1f in Python.
    expect(py('^a\\sb$').test('a\x1cb')).toBe(true);
    expect(py('\\bfoo\\b').test('éfoo')).toBe(false);
  });

  it('keeps ASCII classes under (?a)', () => {
    expect(py('(?a)^\\w+$').test('é')).toBe(false);
    expect(py('(?a)^\\d+$').test('42')).toBe(true);
  });

  it('reads {,n} as {0,n} and a brace that is no quantifier as a literal', () => {
    expect(py('^a{,2}$').test('aa')).toBe(true);
    expect(py('^a{,2}$').test('aaa')).toBe(false);
    expect(py('^{DATE}x{$').test('{DATE}x{')).toBe(true);
  });

  it('reads ] first in a class as a literal, as Python does', () => {
    expect(py('^[]a]+$').test(']a]')).toBe(true);
    expect(py('^[^]]+$').test('abc')).toBe(true);
  });

  it('drops (?#comments) and honours (?x) verbose patterns', () => {
    expect(py('^a(?#the a)b$').test('ab')).toBe(true);
    expect(py('(?x) ^ a  b  # trailing comment\n c $').test('abc')).toBe(true);
  });

  it('translates \\A, \\Z, \\a and octal escapes', () => {
    expect(py('\\Afoo\\Z').test('foo')).toBe(true);
    expect(py('^\\101$').test('A')).toBe(true);
    expect(py('^\\a$').test('\x07')).toBe(true);
  });

  it.each([
    ['(?(user)a|b)', /conditional groups/],
    ['(?P<x>a)(?(x)b|c)', /conditional groups/],
    ['(?>abc)', /atomic groups/],
    ['a*+', /possessive/],
    ['^a(?i)b', /global flags .* not at the start/],
    ['(?P<x>a)(?P<x>b)', /redefinition of group name/],
    ['(?P=nope)', /unknown group name/],
    ['a)', /unbalanced/],
    ['(a', /missing '\)'/],
    ['[a-', /unterminated character set/],
    ['\\q', /bad escape/],
    ['*a', /nothing to repeat/],
    ['\\N{DIGIT ONE}', /named Unicode/],
  ])('refuses %s clearly', (pattern, message) => {
    expect(() => translatePythonRegex(pattern)).toThrow(RegexSyntaxError);
    expect(() => translatePythonRegex(pattern)).toThrow(message);
  });
});
