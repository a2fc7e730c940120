import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CommandTemplate, TemplateError, isDynamicTag } from '../fleet/command-template.js';
import { ConfigError } from './config-error.js';
import { ConfigSet } from './config-set.js';
import { substituteTags, type NamedSpec } from './tags.js';

/**
 * action.d files, read as fail2ban's actionreader reads them: the commands of
 * [Definition], the defaults of [Init], the jail's parameters winning over
 * both (`route[blocktype=blackhole]`), and the IPv6 variants of
 * `[Init?family=inet6]` / `[Definition?family=inet6]` used for IPv6 bans.
 *
 * Static tags (`<blocktype>`, `<name>`, `<chain>`, ...) are resolved here,
 * once per family; the per-ban tags (`<ip>`, `<bantime>`, `<F-USER>`, ...)
 * are compiled into a CommandTemplate that fleet/ renders for each ban.
 *
 * fleetban adds three optional keys to [Definition]:
 * - `actionban_batch` / `actionunban_batch`: a command that reads one line per
 *   ban on its standard input (`ipset restore -exist`, `nft -f -`,
 *   `ip -batch -`), and `actionban_batchline` / `actionunban_batchline`, the
 *   line for one ban. A burst of bans to one host then costs one command.
 * - `dryrun = yes`: the commands are logged, never run (the `dry-run` action).
 * fail2ban ignores keys it does not know, so these files stay usable there.
 */

export type ActionFamily = 'inet4' | 'inet6';
export const ACTION_FAMILIES: readonly ActionFamily[] = ['inet4', 'inet6'];

export const ACTION_COMMANDS = ['actionstart', 'actionstop', 'actioncheck', 'actionflush', 'actionban', 'actionunban'] as const;
export type ActionCommand = (typeof ACTION_COMMANDS)[number];

/** A batch form: `command` reads one rendered `line` per ban on its standard input. */
export interface BatchForm {
  command: string;
  line: CommandTemplate;
}

/** An action's commands for one address family; absent or empty commands are undefined. */
export interface ActionCommands {
  actionstart?: string;
  actionstop?: string;
  actioncheck?: string;
  actionflush?: string;
  actionban?: CommandTemplate;
  actionunban?: CommandTemplate;
  banBatch?: BatchForm;
  unbanBatch?: BatchForm;
}

/** One action of one jail, ready to render. */
export interface ActionSpec {
  /** The action.d file name (`route`). */
  name: string;
  /** fail2ban's actname: the name, made unique per jail when the jail renames it. */
  actname: string;
  jail: string;
  /** The main file read. */
  file: string;
  /** Log the commands instead of running them. */
  dryRun: boolean;
  families: Record<ActionFamily, ActionCommands>;
}

/** The reason of every refusal of a value from a log line (check-config picks them out). */
export const LOG_TEXT_REFUSED = /^<[^ <>]+> carries text from log lines/;

/** Checked: it goes into commands as it is. */
const HOSTNAME = /^[A-Za-z0-9.-]+$/.test(hostname()) ? hostname() : 'localhost';
const ACTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const SAMPLE_IP: Record<ActionFamily, string> = { inet4: '203.0.113.1', inet6: '2001:db8::1' };

/** The actions of one jail (its `action =` list, already split by the jail reader). */
export function readJailActions(
  confDir: string,
  jail: { name: string; actions: NamedSpec[]; options?: Record<string, string> },
): ActionSpec[] {
  return jail.actions.map((spec) => readAction(join(confDir, 'action.d'), spec, jail.name, jail.options ?? {}));
}

/** Read `actionDir/NAME.conf` (and `.local`) for `jail` with the parameters of `spec`. */
export function readAction(actionDir: string, spec: NamedSpec, jail: string, jailOptions: Record<string, string> = {}): ActionSpec {
  if (!ACTION_NAME.test(spec.name)) {
    throw new ConfigError(`not an action name: ${JSON.stringify(spec.name)}`, { file: actionDir });
  }
  const conf = join(actionDir, `${spec.name}.conf`);
  const local = join(actionDir, `${spec.name}.local`);
  const path = existsSync(conf) ? conf : existsSync(local) ? local : undefined;
  if (!path) throw new ConfigError(`no action ${JSON.stringify(spec.name)} (neither ${spec.name}.conf nor ${spec.name}.local)`, { file: actionDir });
  return actionFrom(ConfigSet.readFile(path), spec, jail, jailOptions, path);
}

/** Build an ActionSpec from an already read set (tests use ConfigSet.fromString). */
export function actionFrom(
  conf: ConfigSet,
  spec: NamedSpec,
  jail: string,
  jailOptions: Record<string, string> = {},
  file = conf.files()[0] ?? spec.name,
): ActionSpec {
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.params)) params[k.toLowerCase()] = v;
  // As fail2ban: the jail's name is <name> unless the jail says otherwise, and
  // an action renamed within a jail gets its own actname.
  params.name ??= jail;
  if (params.actname === undefined) {
    const n = params.name;
    params.actname = n === jail ? spec.name : spec.name + (n.startsWith(jail) ? n.slice(jail.length) : `-${n}`);
  }

  const dryRunText = conf.get('Definition', 'dryrun', params)?.trim().toLowerCase();
  const dryRun = dryRunText !== undefined && ['yes', 'true', 'on', '1'].includes(dryRunText);

  const families = {} as Record<ActionFamily, ActionCommands>;
  for (const family of ACTION_FAMILIES) {
    families[family] = readFamily(conf, params, jailOptions, family);
  }
  return { name: spec.name, actname: params.actname, jail, file, dryRun, families };
}

function readFamily(conf: ConfigSet, params: Record<string, string>, jailOptions: Record<string, string>, family: ActionFamily): ActionCommands {
  const cond = family === 'inet6' ? '?family=inet6' : '';
  /** The value of an option, its IPv6 variant first, the jail's parameters winning over the file. */
  const option = (section: 'Init' | 'Definition', key: string, withParams: boolean): string | undefined => {
    const vars = withParams ? params : undefined;
    if (cond) {
      const v = conf.get(section, key + cond, vars);
      if (v !== undefined) return v;
    }
    return conf.get(section, key, vars);
  };
  const staticTag = (name: string): string | undefined => {
    if (isDynamicTag(name)) return undefined;
    const key = name.toLowerCase();
    const slash = key.indexOf('/');
    if (slash > 0) {
      // <known/chain>: the action's own value, before the jail's parameters;
      // <ipt_multiport/_chain_rule>: an option of another section of the file.
      const scope = key.slice(0, slash);
      const k = key.slice(slash + 1);
      if (scope === 'known') return option('Init', k, false) ?? option('Definition', k, false);
      const section = conf.sections().find((x) => x.toLowerCase() === scope);
      return section === undefined ? undefined : conf.get(section, k, params);
    }
    // fail2ban's own tags for the host it runs on: here, the central host.
    if (key === 'fq-hostname') return HOSTNAME;
    if (key === 'sh-hostname') return HOSTNAME.split('.')[0];
    // As fail2ban: an IPv6 variant wins, then the jail's parameters, then the file.
    return option('Init', key, true) ?? option('Definition', key, true) ?? jailOptions[key];
  };

  const text = (key: string): string | undefined => {
    const raw = option('Definition', key, true);
    if (raw === undefined || raw.trim() === '') return undefined;
    const where = conf.where('Definition', cond && conf.has('Definition', key + cond) ? key + cond : key);
    return substituteTags(raw, staticTag, { ...where, section: 'Definition', key });
  };
  const fail = (key: string, message: string, tag?: string): ConfigError => {
    const k = cond && conf.has('Definition', key + cond) ? key + cond : key;
    const where = conf.where('Definition', k);
    if (tag === undefined || !where) return conf.error('Definition', k, message);
    // A multi-line command: name the line the tag is written on, when it is
    // written in the value itself (not brought in by another option).
    const raw = conf.getRaw('Definition', k) ?? '';
    const at = raw.indexOf(`<${tag}>`);
    const line = at === -1 ? where.line : where.line + (raw.slice(0, at).match(/\n/g)?.length ?? 0);
    return new ConfigError(message, { file: where.file, line, section: 'Definition', key: k });
  };

  const out: ActionCommands = {};
  for (const key of ['actionstart', 'actionstop', 'actioncheck', 'actionflush'] as const) {
    const t = text(key);
    if (t === undefined) continue;
    // These run once per host and family: only <family> may differ per call.
    const tpl = compile(t, key, fail, {});
    const bad = tpl.tags().filter((n) => n !== 'family');
    if (bad.length) throw fail(key, `<${bad[0]}> has no value here: ${key} runs once per host, not per ban`);
    out[key] = tpl.render(sampleValues(family));
    checkSyntax(out[key], key, fail);
  }
  for (const key of ['actionban', 'actionunban'] as const) {
    const t = text(key);
    if (t === undefined) continue;
    const tpl = compile(t, key, fail, {});
    checkSyntax(tpl.render(sampleValues(family)), key, fail);
    out[key] = tpl;
  }
  for (const [op, field] of [['ban', 'banBatch'], ['unban', 'unbanBatch']] as const) {
    const cmdKey = `action${op}_batch`;
    const lineKey = `action${op}_batchline`;
    const cmd = text(cmdKey);
    const line = text(lineKey);
    if (cmd === undefined && line === undefined) continue;
    if (cmd === undefined) throw fail(lineKey, `${lineKey} needs ${cmdKey}, the command that reads the lines`);
    if (line === undefined) throw fail(cmdKey, `${cmdKey} needs ${lineKey}, the line written for each ban`);
    const cmdTpl = compile(cmd, cmdKey, fail, {});
    const bad = cmdTpl.tags().filter((n) => n !== 'family');
    if (bad.length) throw fail(cmdKey, `<${bad[0]}> differs per ban; put it in ${lineKey}`);
    checkSyntax(cmdTpl.render(sampleValues(family)), cmdKey, fail);
    const lineTpl = compile(line, lineKey, fail, { allowUntrusted: false });
    if (lineTpl.render(sampleValues(family)).includes('\n')) throw fail(lineKey, 'must be one line');
    out[field] = { command: cmdTpl.render(sampleValues(family)), line: lineTpl };
  }
  return out;
}

function compile(
  text: string,
  key: string,
  fail: (key: string, message: string, tag?: string) => ConfigError,
  opts: { allowUntrusted?: boolean },
): CommandTemplate {
  try {
    return CommandTemplate.compile(text, opts);
  } catch (err) {
    if (err instanceof TemplateError) throw fail(key, err.message, err.tag);
    throw fail(key, (err as Error).message);
  }
}

function sampleValues(family: ActionFamily) {
  return { ip: SAMPLE_IP[family], bantime: 600, until: null, failures: 5, time: 0, restored: false, fields: {}, now: 0 };
}

const PARSED = new Set<string>();

/**
 * A command sh cannot parse would stop the host's whole command stream, so
 * it is a configuration error now rather than a failed ban later.
 */
function checkSyntax(text: string, key: string, fail: (key: string, message: string) => ConfigError): void {
  // Jails share actions: each distinct command is checked once per process.
  if (PARSED.has(text)) return;
  const r = spawnSync('/bin/sh', ['-n', '-c', text], { encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0) {
    const why = (r.stderr || '').trim().split('\n').pop()?.replace(/^\/bin\/sh: \d+: /, '') || 'sh cannot parse it';
    // A tag nobody defined stays as <name>, which sh reads as redirections.
    const left = [...new Set([...text.matchAll(/<([^ <>]+)>/g)].map((m) => `<${m[1]}>`))];
    const hint = left.length ? ` (tags without a value: ${left.join(' ')}; define them in [Init] or pass them from the jail)` : '';
    throw fail(key, `not a valid sh command: ${why}${hint}`);
  }
  if (PARSED.size < 10_000) PARSED.add(text);
}
