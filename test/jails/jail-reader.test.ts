import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { readJails } from '../../src/config/jail-reader.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A configuration folder holding the shipped jail.conf and the given files. */
function confDir(files: Record<string, string>, withShipped = true): string {
  const dir = mkdtempSync(join(tmpdir(), 'fleetban-jails-'));
  dirs.push(dir);
  if (withShipped) writeFileSync(join(dir, 'jail.conf'), readShipped());
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

function readShipped(): string {
  return readFileSync(new URL('../../conf/jail.conf', import.meta.url), 'utf8');
}

describe('the shipped jail.conf', () => {
  it('enables vpopmail, courier-auth and courier-smtp with sensible defaults, banning nowhere until told', () => {
    const jails = readJails(confDir({}));
    expect(jails.map((j) => j.name)).toEqual(['vpopmail', 'courier-auth', 'courier-smtp']);
    const v = jails[0]!;
    expect(v).toMatchObject({
      filter: { name: 'vpopmail', params: { mode: 'normal' } },
      maxRetry: 5,
      findTime: 600,
      banTime: 3600,
      banAction: 'dry-run',
      actions: [{ name: 'dry-run', params: { port: 'smtp,465,submission,imap,imaps,pop3,pop3s', protocol: 'tcp', chain: '<known/chain>' } }],
      scope: { kind: 'fleet' },
      sources: [],
      ipv6Prefix: 128,
      ignoreIp: ['127.0.0.1/8', '::1'],
      ignoreSelf: true,
      maxMatches: 5,
    });
    expect(v.increment).toMatchObject({ enabled: true, factor: 1, maxTime: 604800, multipliers: [], overallJails: false });
    expect(v.options.port).toBe('smtp,465,submission,imap,imaps,pop3,pop3s');
  });

  it('ships a recidive jail, off, that bans repeat offenders for a week on every port', () => {
    const jails = readJails(confDir({ 'jail.d/recidive.local': '[recidive]\nenabled = true\n' }));
    const r = jails.find((j) => j.name === 'recidive')!;
    expect(r).toMatchObject({ filter: undefined, sources: ['bans'], maxRetry: 5, findTime: 86400, banTime: 604800 });
  });
});

describe('jail.local and jail.d override jail.conf as in fail2ban', () => {
  it('later files win, key by key; [DEFAULT] in jail.local reaches every jail', () => {
    const dir = confDir({
      'jail.local': '[DEFAULT]\nbantime = 1d12h\nbanaction = iptables-multiport\n[courier-smtp]\nenabled = false\n',
      'jail.d/10-scope.conf': '[vpopmail]\nscope = origin\nipv6_prefix = 64\nignoreip = 198.51.100.0/24 2001:db8::/32 office.example\n',
    });
    const jails = readJails(dir);
    expect(jails.map((j) => j.name)).toEqual(['vpopmail', 'courier-auth']);
    expect(jails[0]).toMatchObject({ banTime: 129600, banAction: 'iptables-multiport', scope: { kind: 'origin' }, ipv6Prefix: 64 });
    expect(jails[0]!.ignoreIp).toEqual(['198.51.100.0/24', '2001:db8::/32', 'office.example']);
    expect(jails[0]!.actions[0]!.name).toBe('iptables-multiport');
  });

  it('reads every bantime.* option', () => {
    const jails = readJails(
      confDir({
        'jail.local': `[vpopmail]
bantime.factor = 2.0 / 2.885385
bantime.formula = ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)
bantime.multipliers = 1 5 30 60
bantime.maxtime = 5w
bantime.rndtime = 10m
bantime.overalljails = true
`,
      }),
    );
    expect(jails[0]!.increment).toEqual({
      enabled: true,
      factor: 2.0 / 2.885385,
      formula: 'ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)',
      multipliers: [1, 5, 30, 60],
      maxTime: 5 * 604800,
      rndTime: 600,
      overallJails: true,
    });
  });
});

describe('mistakes name the file, the line and the key', () => {
  it.each([
    ['maxretry = five', 'maxretry', /expected a whole number/],
    ['findtime = 10 parsecs', 'findtime', /expected a time/],
    ['bantime = 0', 'bantime', /must not be 0/],
    ['scope = everywhere', 'scope', /expected fleet, origin or group:NAME/],
    ['ignoreip = 10.0.0.0/33', 'ignoreip', /expected an address, a CIDR or a host name/],
    ['ipv6_prefix = 8', 'ipv6_prefix', /from 32 to 128/],
    ['bantime.formula = ban.Time ** os.getpid()', 'bantime.formula', /unknown function/],
    ['bantime.factor = 0', 'bantime.factor', /above 0/],
    ['bantime.multipliers = 1 2 x', 'bantime.multipliers', /expected numbers/],
    ['bantime.maxtime = forever', 'bantime.maxtime', /expected a time/],
    ['enabled = perhaps', 'enabled', /expected yes or no/],
    ['filter = courier-auth[mode', 'filter', /malformed/],
  ])('%s', (line, key, message) => {
    const dir = confDir({ 'jail.local': `[vpopmail]\n\n${line}\n` });
    let err: unknown;
    try {
      readJails(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.message).toMatch(message);
    expect(e.key).toBe(key);
    expect(e.file).toBe(join(dir, 'jail.local'));
    expect(e.line).toBe(3);
    expect(e.message.startsWith(`${join(dir, 'jail.local')}:3: [vpopmail] ${key}: `)).toBe(true);
  });

  it('a disabled jail with a mistake does not stop the others, as in fail2ban', () => {
    const jails = readJails(confDir({ 'jail.local': '[recidive]\nmaxretry = many\n' }));
    expect(jails.map((j) => j.name)).toEqual(['vpopmail', 'courier-auth', 'courier-smtp']);
  });

  it('a jail name that would not be safe in an action command is refused', () => {
    expect(() => readJails(confDir({ 'jail.local': '[bad;name]\nenabled = true\n' }, false))).toThrow(/jail name/);
  });
});
