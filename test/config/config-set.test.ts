import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { ConfigSet } from '../../src/config/config-set.js';
import { parseNameWithParams, splitSpecList, substituteTags } from '../../src/config/tags.js';

const dirs: string[] = [];
function confDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fleetban-conf-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function thrown(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('reading a fail2ban-style file', () => {
  it('turns indented lines into a list, skipping comments between them', () => {
    const c = ConfigSet.fromString(
      [
        '[Definition]',
        'failregex = ^LOGIN FAILED, ip=\\[<HOST>\\]$',
        '            # ^an old pattern, commented out',
        '            ^AUTH failed from <HOST>$',
        '',
        '            ^third after a blank line$',
        'ignoreregex =',
        'datepattern: {^LN-BEG}',
      ].join('\n'),
      'filter.d/x.conf',
    );
    expect(c.get('Definition', 'failregex')?.split('\n')).toEqual([
      '^LOGIN FAILED, ip=\\[<HOST>\\]$',
      '^AUTH failed from <HOST>$',
      '',
      '^third after a blank line$',
    ]);
    expect(c.get('Definition', 'ignoreregex')).toBe('');
    expect(c.get('Definition', 'datepattern')).toBe('{^LN-BEG}');
  });

  it('ends a value at " ;" but keeps # (regexes use it)', () => {
    const c = ConfigSet.fromString('[x]\na = 10 ; ten\nb = ^#(\\d+)$\nc = semi;colon\n');
    expect(c.get('x', 'a')).toBe('10');
    expect(c.get('x', 'b')).toBe('^#(\\d+)$');
    expect(c.get('x', 'c')).toBe('semi;colon');
  });

  it('lower-cases option names as configparser does, and falls back to [DEFAULT]', () => {
    const c = ConfigSet.fromString('[DEFAULT]\nbantime = 10m\n[vpopmail]\nMaxRetry = 3\n');
    expect(c.get('vpopmail', 'maxretry')).toBe('3');
    expect(c.get('vpopmail', 'bantime')).toBe('10m');
    expect(c.options('vpopmail')).toEqual(['maxretry', 'bantime']);
    expect(c.sections()).toEqual(['vpopmail']);
  });

  it('names the file and line of a line it cannot read', () => {
    const e = thrown(() => ConfigSet.fromString('[a]\nx = 1\nthis is not an option\n', 'jail.local'));
    expect(e.message).toBe('jail.local:3: [a] cannot read this line: "this is not an option"');
    expect(thrown(() => ConfigSet.fromString('x = 1\n', 'f.conf')).line).toBe(1);
  });
});

describe('interpolation', () => {
  it('resolves %(name)s in the context of the section asked for', () => {
    const c = ConfigSet.fromString(
      [
        '[DEFAULT]',
        'port = 0:65535',
        'banaction = route',
        'action_ = %(banaction)s[name=%(__name__)s, port="%(port)s"]',
        '[courier-auth]',
        'port = imap,pop3',
        'action = %(action_)s',
        'pct = 100%%',
      ].join('\n'),
    );
    expect(c.get('courier-auth', 'action')).toBe('route[name=courier-auth, port="imap,pop3"]');
    expect(c.get('courier-auth', 'pct')).toBe('100%');
    expect(c.get('courier-auth', 'action', { banaction: 'ipset' })).toBe('ipset[name=courier-auth, port="imap,pop3"]');
  });

  it('reads %(default/x)s and %(section/x)s', () => {
    const c = ConfigSet.fromString('[DEFAULT]\nx = d\n[Init]\nx = i\n[Definition]\nx = own\na = %(default/x)s %(Init/x)s %(x)s\n');
    expect(c.get('Definition', 'a')).toBe('d i own');
  });

  it('extends a stock value in .local with %(known/x)s', () => {
    const dir = confDir({
      'jail.conf': '[vpopmail]\nignoreip = 127.0.0.1/8\n',
      'jail.local': '[vpopmail]\nignoreip = %(known/ignoreip)s 198.51.100.7\n',
    });
    const c = ConfigSet.readStack(dir, 'jail');
    expect(c.get('vpopmail', 'ignoreip')).toBe('127.0.0.1/8 198.51.100.7');
    expect(c.known('vpopmail', 'ignoreip')).toBe('127.0.0.1/8');
  });

  it('reports a loop instead of hanging', () => {
    const c = ConfigSet.fromString('[j]\na = %(b)s\nb = x%(a)s\n', 'jail.conf');
    const e = thrown(() => c.get('j', 'a'));
    expect(e.message).toMatch(/^jail\.conf:\d: \[j\] [ab]: interpolation loops: /);
  });

  it('refuses a lone % and an undefined name, naming file, line and key', () => {
    const c = ConfigSet.fromString('[Definition]\n\ndatepattern = %Y-%m-%d\nx = %(nope)s\n', 'filter.d/f.conf');
    expect(thrown(() => c.get('Definition', 'datepattern')).message).toMatch(
      /^filter\.d\/f\.conf:3: \[Definition\] datepattern: '%' must be followed by/,
    );
    expect(thrown(() => c.get('Definition', 'x')).message).toBe(
      'filter.d/f.conf:4: [Definition] x: %(nope)s refers to an option that is not defined',
    );
  });
});

describe('files read together', () => {
  it('reads NAME.conf, NAME.d/*.conf, NAME.local, NAME.d/*.local, later winning', () => {
    const dir = confDir({
      'jail.conf': '[DEFAULT]\nbantime = 1\nfindtime = 1\nmaxretry = 1\nusedns = 1\n',
      'jail.d/b.conf': '[DEFAULT]\nbantime = 2\nfindtime = 2\nmaxretry = 2\n',
      'jail.local': '[DEFAULT]\nbantime = 3\nfindtime = 3\n',
      'jail.d/a.local': '[DEFAULT]\nbantime = 4\n',
    });
    const c = ConfigSet.readStack(dir, 'jail');
    expect(['bantime', 'findtime', 'maxretry', 'usedns'].map((k) => c.get('DEFAULT', k))).toEqual(['4', '3', '2', '1']);
    expect(c.where('DEFAULT', 'bantime')).toEqual({ file: join(dir, 'jail.d/a.local'), line: 2 });
  });

  it('follows [INCLUDES] before/after relative to the file, each with its .local', () => {
    const dir = confDir({
      'filter.d/common.conf': '[DEFAULT]\n__prefix = stock\n__other = stock\n',
      'filter.d/common.local': '[DEFAULT]\n__prefix = local\n',
      'filter.d/late.conf': '[Definition]\nfailregex = from-after\n',
      'filter.d/courier-auth.conf':
        '[INCLUDES]\nbefore = common.conf\nafter = late.conf\n[Definition]\nfailregex = %(__prefix)s %(__other)s\n',
    });
    const c = ConfigSet.readFile(join(dir, 'filter.d/courier-auth.conf'));
    expect(c.get('Definition', 'failregex')).toBe('from-after');
    expect(c.known('Definition', 'failregex')).toBe('local stock');
    expect(c.files().map((f) => f.slice(dir.length + 1))).toEqual([
      'filter.d/common.conf',
      'filter.d/common.local',
      'filter.d/courier-auth.conf',
      'filter.d/late.conf',
    ]);
  });

  it('reports a missing include at the line that asks for it', () => {
    const dir = confDir({ 'filter.d/x.conf': '[INCLUDES]\nbefore = nothere.conf\n[Definition]\nfailregex = a\n' });
    const e = thrown(() => ConfigSet.readFile(join(dir, 'filter.d/x.conf')));
    expect(e.file).toBe(join(dir, 'filter.d/x.conf'));
    expect(e.line).toBe(2);
    expect(e.key).toBe('before');
  });

  it('skips a missing .local include, as fail2ban does for common.conf\'s hook', () => {
    const dir = confDir({ 'filter.d/common.conf': '[INCLUDES]\nafter = common.local\n[DEFAULT]\nx = 1\n' });
    expect(ConfigSet.readFile(join(dir, 'filter.d/common.conf')).get('DEFAULT', 'x')).toBe('1');
  });

  it('survives an include loop', () => {
    const dir = confDir({
      'a.conf': '[INCLUDES]\nbefore = b.conf\n[x]\na = 1\n',
      'b.conf': '[INCLUDES]\nbefore = a.conf\n[x]\nb = 2\n',
    });
    const c = ConfigSet.readFile(join(dir, 'a.conf'));
    expect([c.get('x', 'a'), c.get('x', 'b')]).toEqual(['1', '2']);
  });

  it('merges [Init?family=inet6] into [Init] as conditional keys', () => {
    const c = ConfigSet.fromString('[Init]\nblocktype = unreachable\n[Init?family=inet6]\nblocktype = prohibit\n');
    expect(c.get('Init', 'blocktype')).toBe('unreachable');
    expect(c.get('Init', 'blocktype?family=inet6')).toBe('prohibit');
    expect(c.sections()).toEqual(['Init']);
  });
});

describe('late tags and parameters', () => {
  it('parses name[params] with quoted commas', () => {
    expect(parseNameWithParams('courier-auth[mode=aggressive, logtype="a,b", x=\'[1]\']')).toEqual({
      name: 'courier-auth',
      params: { mode: 'aggressive', logtype: 'a,b', x: '[1]' },
    });
    expect(parseNameWithParams('  route  ')).toEqual({ name: 'route', params: {} });
    expect(() => parseNameWithParams('route[blocktype]')).toThrow(ConfigError);
    expect(() => parseNameWithParams('route[a="x]')).toThrow(/unterminated quote/);
  });

  it('splits an action list by lines and spaces, keeping brackets together', () => {
    expect(splitSpecList('route[blocktype=blackhole]\n  ipset[name=a, port="25, 465"] dry-run')).toEqual([
      'route[blocktype=blackhole]',
      'ipset[name=a, port="25, 465"]',
      'dry-run',
    ]);
  });

  it('resolves nested tags and leaves regex tags alone', () => {
    const vars: Record<string, string> = { mode: 'normal', 'mdre-normal': 'LOGIN FAILED <ip>', ip: 'ip=\\[<HOST>\\]' };
    expect(substituteTags('^<mdre-<mode>>$ (?P<user>\\S+) <F-USER>', (n) => vars[n])).toBe(
      '^LOGIN FAILED ip=\\[<HOST>\\]$ (?P<user>\\S+) <F-USER>',
    );
    expect(() => substituteTags('<a>', (n) => ({ a: '<b>', b: '<a>' })[n])).toThrow(ConfigError);
    expect(() => substituteTags('<a>', (n) => ({ a: '<a><a>' })[n])).toThrow(ConfigError);
  });
});
