import { parseCidr } from '../net/address.js';
import { FormulaError, compileFormula, evaluateConstant, DEFAULT_FORMULA } from './ban-time-formula.js';
import { parseScope, USE_DNS, type BanTimeIncrementConfig, type JailConfig, type UseDns } from './jail-config.js';
import { parseTimeValue } from './time-value.js';
import { ConfigSet } from './config-set.js';
import { parseNameWithParams, splitSpecList } from './tags.js';
import { SectionReader, splitList } from './values.js';

export type { JailConfig } from './jail-config.js';

/**
 * jail.conf, jail.d/*.conf, jail.local, jail.d/*.local: fail2ban's jail
 * options, read as fail2ban's jailreader reads them ([DEFAULT] for every
 * jail, `%(name)s` resolved in each jail's section, so `filter =
 * %(__name__)s[mode=%(mode)s]` names each jail's own filter), plus
 * fleetban's `scope`, `sources` and `ipv6_prefix`.
 *
 * Only enabled jails are validated, as in fail2ban: a disabled jail with a
 * mistake does not stop the service.
 */
export function readJails(confDir: string): JailConfig[] {
  return jailsFrom(ConfigSet.readStack(confDir, 'jail'));
}

/** Every jail section with its `enabled` flag (check-config lists the disabled ones too). */
export function listJails(conf: ConfigSet): { name: string; enabled: boolean }[] {
  return conf.sections().map((name) => ({ name, enabled: new SectionReader(conf, name).bool('enabled', false) }));
}

/** The enabled jails of an already read set. */
export function jailsFrom(conf: ConfigSet): JailConfig[] {
  return listJails(conf)
    .filter((j) => j.enabled)
    .map((j) => readJail(conf, j.name));
}

/**
 * A jail name reaches action commands as <name>, ipset and nftables set
 * names (at most 31 characters with their prefix) and fleetban-remote's
 * requests, which accept exactly this: keep it to characters a shell
 * leaves alone, short enough for every set name.
 */
export const JAIL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,24}$/;

/** Read one jail section, enabled or not. */
export function readJail(conf: ConfigSet, name: string): JailConfig {
  const r = new SectionReader(conf, name);
  if (!JAIL_NAME.test(name)) {
    throw conf.error(name, 'enabled', `jail name ${JSON.stringify(name)}: use letters, digits, '_', '.' and '-' (at most 25: it becomes firewall set names)`);
  }
  const time = (key: string, fallback: number, allowNegative: boolean): number => {
    const v = conf.get(name, key);
    if (v === undefined || v.trim() === '') return fallback;
    const t = parseTimeValue(v);
    if (t === null) throw conf.error(name, key, `expected a time such as 600, 10m, 1h, 1d12h or 1w, not ${JSON.stringify(v.trim())}`);
    if (t < 0 && !allowNegative) throw conf.error(name, key, `must not be negative, not ${JSON.stringify(v.trim())}`);
    return t;
  };

  const maxRetry = r.int('maxretry', 5, 1, 1000);
  const findTime = time('findtime', 600, false);
  if (findTime <= 0) throw conf.error(name, 'findtime', 'must be more than 0 seconds');
  const banTime = time('bantime', 600, true);
  if (banTime === 0) throw conf.error(name, 'bantime', 'must not be 0 (a negative value bans for ever)');

  // No `filter` at all: the filter named like the jail (what fail2ban's stock
  // `filter = %(__name__)s` says); an empty one: no log filter (sources = bans).
  const filterText = conf.get(name, 'filter')?.trim() ?? name;
  const filter = filterText ? parseNameWithParams(filterText, loc(conf, name, 'filter')) : undefined;

  const actionText = conf.get(name, 'action') ?? '';
  const actions = splitSpecList(actionText).map((spec) => parseNameWithParams(spec, loc(conf, name, 'action')));
  const centralText = conf.get(name, 'central_action') ?? '';
  const centralActions = splitSpecList(centralText).map((spec) => parseNameWithParams(spec, loc(conf, name, 'central_action')));

  const scopeText = r.string('scope', 'fleet');
  const scope = parseScope(scopeText);
  if (!scope) throw conf.error(name, 'scope', `expected fleet, origin or group:NAME, not ${JSON.stringify(scopeText.trim())}`);

  const ignoreIp = splitList(conf.get(name, 'ignoreip') ?? '');
  for (const item of ignoreIp) {
    if (!parseCidr(item) && !isHostName(item)) {
      throw conf.error(name, 'ignoreip', `expected an address, a CIDR or a host name, not ${JSON.stringify(item)}`);
    }
  }

  // fail2ban's default (its jail.conf and its filter's): host names match, with a warning.
  const useDns = r.string('usedns', 'warn').trim().toLowerCase() || 'warn';
  if (!(USE_DNS as readonly string[]).includes(useDns)) {
    throw conf.error(name, 'usedns', `expected ${USE_DNS.join(', ')}, not ${JSON.stringify(useDns)}`);
  }

  return {
    name,
    enabled: r.bool('enabled', false),
    filter,
    maxRetry,
    findTime,
    banTime,
    increment: readIncrement(conf, name, time),
    ignoreIp,
    ignoreSelf: r.bool('ignoreself', true),
    ignoreCommand: r.optionalString('ignorecommand'),
    banAction: r.string('banaction', 'dry-run').trim(),
    actions,
    centralActions,
    scope,
    sources: r.list('sources'),
    ipv6Prefix: r.int('ipv6_prefix', 128, 32, 128),
    useDns: useDns as UseDns,
    maxMatches: r.int('maxmatches', maxRetry, 0, 1000),
    options: allOptions(conf, name),
  };
}

function readIncrement(conf: ConfigSet, name: string, time: (key: string, fallback: number, neg: boolean) => number): BanTimeIncrementConfig {
  const r = new SectionReader(conf, name);
  const expr = (key: string, fallback: string): string => r.optionalString(key) ?? fallback;

  const factorText = expr('bantime.factor', '1');
  let factor: number;
  try {
    factor = evaluateConstant(factorText);
  } catch (err) {
    throw conf.error(name, 'bantime.factor', formulaMessage(err, factorText));
  }
  if (!Number.isFinite(factor) || factor <= 0) throw conf.error(name, 'bantime.factor', `must be a number above 0, not ${JSON.stringify(factorText)}`);

  const formula = expr('bantime.formula', DEFAULT_FORMULA);
  try {
    compileFormula(formula);
  } catch (err) {
    throw conf.error(name, 'bantime.formula', formulaMessage(err, formula));
  }

  const multipliers = r.list('bantime.multipliers').map((m) => {
    const n = Number(m);
    if (!/^\d+(\.\d+)?$/.test(m) || !Number.isFinite(n)) {
      throw conf.error(name, 'bantime.multipliers', `expected numbers separated by spaces, not ${JSON.stringify(m)}`);
    }
    return n;
  });

  const optionalTime = (key: string): number | undefined => {
    const v = r.optionalString(key);
    return v === undefined ? undefined : time(key, 0, false);
  };

  return {
    enabled: r.bool('bantime.increment', false),
    factor,
    formula,
    multipliers,
    maxTime: optionalTime('bantime.maxtime'),
    rndTime: optionalTime('bantime.rndtime'),
    overallJails: r.bool('bantime.overalljails', false),
  };
}

function formulaMessage(err: unknown, text: string): string {
  if (err instanceof FormulaError) return `${err.message} in ${JSON.stringify(text)}`;
  throw err;
}

function loc(conf: ConfigSet, section: string, key: string) {
  const w = conf.where(section, key);
  return { file: w?.file, line: w?.line, section, key };
}

function isHostName(text: string): boolean {
  return text.length <= 253 && /^(?=.*[A-Za-z])[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/.test(text);
}

/**
 * The section's options, interpolated, for action tags (<port>, <protocol>,
 * ...). An option that cannot be interpolated (a fail2ban `logpath =
 * %(syslog_mail)s` whose paths file is not here) is left out: fleetban reads
 * no log files, and the options it needs are checked above.
 */
function allOptions(conf: ConfigSet, section: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of conf.options(section)) {
    if (key.includes('?')) continue;
    try {
      const v = conf.get(section, key);
      if (v !== undefined) out[key] = v;
    } catch {
      // see above
    }
  }
  return out;
}
