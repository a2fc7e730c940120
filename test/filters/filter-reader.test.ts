import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { parseJournalMatch } from '../../src/config/filter-reader.js';
import { loadFilter } from '../../src/filters/filter.js';

let dir: string;

/** Write files under a fresh conf dir: { 'filter.d/x.conf': '...' }. */
function conf(files: Record<string, string>): string {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

function errorOf(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const LINE = 'Mar  1 00:00:00 mx1 demo[12]: failed login from 203.0.113.9 as bob';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fleetban-filter-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('reading filter.d files', () => {
  it('a .local overrides the .conf, and %(known/failregex)s extends it', () => {
    conf({
      'filter.d/demo.conf': '[Definition]\nfailregex = ^ demo\\[\\d+\\]: failed login from <HOST>\n',
      'filter.d/demo.local': '[Definition]\nfailregex = %(known/failregex)s\n            ^ demo\\[\\d+\\]: refused <HOST>\n',
    });
    const f = loadFilter(dir, 'demo');
    expect(f.failregex).toHaveLength(2);
    expect(f.matchLine('Mar  1 00:00:00 demo[1]: refused 198.51.100.4')).toMatchObject({ kind: 'failure', match: { ip: '198.51.100.4', regex: 1 } });
  });

  it('jail parameters choose nested tags like <mdre-<mode>>, defaulting to [Init]', () => {
    conf({
      'filter.d/demo.conf': [
        '[Definition]',
        'mdre-normal = ^ \\S+ demo\\[\\d+\\]: failed login from <HOST>',
        'mdre-extra = ^ \\S+ demo\\[\\d+\\]: probe from <HOST>',
        'mdre-aggressive = <mdre-normal>',
        '                  <mdre-extra>',
        'failregex = <mdre-<mode>>',
        '[Init]',
        'mode = normal',
        '',
      ].join('\n'),
    });
    expect(loadFilter(dir, 'demo').failregex).toHaveLength(1);
    const aggressive = loadFilter(dir, 'demo[mode=aggressive]');
    expect(aggressive.failregex).toHaveLength(2);
    expect(aggressive.matchLine('Mar  1 00:00:00 mx1 demo[1]: probe from 2001:db8::1').kind).toBe('failure');
    // A jail's own parameters come second to the spec's.
    expect(loadFilter(dir, 'demo', { mode: 'aggressive' }).failregex).toHaveLength(2);
    expect(loadFilter(dir, 'demo[mode=normal]', { mode: 'aggressive' }).failregex).toHaveLength(1);
  });

  it('<known/x> is the [Init] value, so a parameter can extend it', () => {
    conf({
      'filter.d/demo.conf': [
        '[Definition]',
        'failregex = ^ \\S+ (?:<_daemon>)\\[\\d+\\]: failed login from <HOST>',
        '[Init]',
        '_daemon = demo',
        '',
      ].join('\n'),
    });
    const other = 'Mar  1 00:00:00 mx1 other[2]: failed login from 203.0.113.9';
    expect(loadFilter(dir, 'demo').matchLine(LINE).kind).toBe('failure');
    expect(loadFilter(dir, 'demo').matchLine(other).kind).toBe('missed');
    const extended = loadFilter(dir, 'demo[_daemon="<known/_daemon>|other"]');
    expect(extended.matchLine(LINE).kind).toBe('failure');
    expect(extended.matchLine(other).kind).toBe('failure');
  });

  it('includes common.conf and its prefixes for every logtype', () => {
    conf({
      'filter.d/common.conf': '[DEFAULT]\nlogtype = file\n__prefix_line = <lt_<logtype>/__prefix_line>\n[lt_file]\n__prefix_line = \\s*\\S+\\s+\\S+:\\s+\n[lt_short]\n__prefix_line = SHORT\n',
      'filter.d/demo.conf': '[INCLUDES]\nbefore = common.conf\n[Definition]\nfailregex = ^%(__prefix_line)sfailed login from <HOST>\n',
    });
    expect(loadFilter(dir, 'demo').failregex[0]!.text).toBe('^\\s*\\S+\\s+\\S+:\\s+failed login from <HOST>');
    expect(loadFilter(dir, 'demo[logtype=short]').failregex[0]!.text).toBe('^SHORTfailed login from <HOST>');
  });

  it('reads journalmatch as OR-ed groups of AND-ed terms', () => {
    expect(parseJournalMatch('_SYSTEMD_UNIT=a.service + _COMM=b "MESSAGE=x y"\nSYSLOG_IDENTIFIER=c')).toEqual([
      ['_SYSTEMD_UNIT=a.service'],
      ['_COMM=b', 'MESSAGE=x y'],
      ['SYSLOG_IDENTIFIER=c'],
    ]);
  });

  it('takes a path to a filter file anywhere on disk, and a bare regex', () => {
    conf({ 'elsewhere/mine.conf': '[Definition]\nfailregex = failed login from <HOST>\n' });
    expect(loadFilter('/nonexistent', join(dir, 'elsewhere/mine.conf')).matchLine(LINE).kind).toBe('failure');
    const bare = loadFilter('/nonexistent', 'failed login from <HOST> as (?P<user>\\w+)');
    expect(bare.matchLine(LINE)).toMatchObject({ kind: 'failure', match: { ip: '203.0.113.9', fields: { user: 'bob' } } });
  });
});

describe('filter errors name the file, the line and the key', () => {
  it('a broken regex', () => {
    conf({ 'filter.d/bad.conf': '[Definition]\n\nfailregex = ^ok <HOST>$\n            ^broken (<HOST>\n' });
    const e = errorOf(() => loadFilter(dir, 'bad'));
    expect(e.file).toBe(join(dir, 'filter.d/bad.conf'));
    expect(e.line).toBe(4);
    expect(e.key).toBe('failregex');
    expect(e.message).toMatch(/broken regex/);
  });

  it('a conditional group that cannot be translated exactly, at the line where the regex is written', () => {
    conf({
      'filter.d/cond.conf':
        '[Definition]\nok = ^ok <HOST>$\n# a comment between\nbroken = ^(?P<a>x)*(?(a)y|z) <HOST>$\nfailregex = %(ok)s\n            %(broken)s\n',
    });
    const e = errorOf(() => loadFilter(dir, 'cond'));
    expect(e.message).toMatch(/cond\.conf:4: \[Definition\] broken: .*repeated.*\(\?\(a\)y\|z\)/);
    // One fleetban translates: it loads.
    conf({ 'filter.d/cond2.conf': '[Definition]\nfailregex = ^(?P<a>x)?(?(a)y|z) <HOST>$\n' });
    expect(loadFilter(dir, 'cond2').matchLine('xy 203.0.113.5').kind).toBe('failure');
  });

  it('an unknown tag', () => {
    conf({ 'filter.d/tag.conf': '[Definition]\nfailregex = ^%(missing)s <HOST>$\n' });
    expect(errorOf(() => loadFilter(dir, 'tag')).message).toMatch(/tag\.conf:2: .*missing/);
    conf({ 'filter.d/tag2.conf': '[Definition]\nfailregex = ^<__prefix_line>failed <HOST>$\n' });
    const e = errorOf(() => loadFilter(dir, 'tag2'));
    expect(e.message).toMatch(/unknown tag <__prefix_line>/);
    expect(e.line).toBe(2);
    conf({ 'filter.d/tag3.conf': '[Definition]\nfailregex = <mdre-<mode>>\nmdre-normal = x <HOST>\n[Init]\nmode = nosuch\n' });
    expect(errorOf(() => loadFilter(dir, 'tag3')).message).toMatch(/unknown tag <mdre-nosuch>/);
  });

  it('a missing include', () => {
    conf({ 'filter.d/inc.conf': '[INCLUDES]\nbefore = nothere.conf\n[Definition]\nfailregex = x <HOST>\n' });
    const e = errorOf(() => loadFilter(dir, 'inc'));
    expect(e.message).toMatch(/inc\.conf:2: \[INCLUDES\] before: .*nothere\.conf/);
  });

  it('a failregex without an address', () => {
    conf({ 'filter.d/noid.conf': '[Definition]\nfailregex = ^failed login$\n' });
    expect(errorOf(() => loadFilter(dir, 'noid')).message).toMatch(/noid\.conf:2: .*no failure id/);
  });

  it('a bad bound of a multi-line filter\'s memory', () => {
    conf({ 'filter.d/ml.conf': '[Definition]\nfailregex = ^a<SKIPLINES>b <HOST>$\nmaxlines = 2\n[Init]\nmlfidcachesize = lots\n' });
    expect(errorOf(() => loadFilter(dir, 'ml')).message).toMatch(/ml\.conf.*mlfidcachesize|mlfidcachesize.*ml\.conf/);
  });

  it('a filter name that does not exist', () => {
    mkdirSync(join(dir, 'filter.d'));
    expect(errorOf(() => loadFilter(dir, 'nosuch')).message).toMatch(/no filter "nosuch"/);
  });
});
