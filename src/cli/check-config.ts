import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/config-error.js';
import { ConfigSet } from '../config/config-set.js';
import { filterSearchPath } from '../config/filter-search-path.js';
import { LOG_TEXT_REFUSED, readAction } from '../config/action-reader.js';
import { formatListenAddress } from '../config/values.js';
import { formatTimeValue } from '../config/time-value.js';
import { formatScope } from '../bans/scope.js';
import { loadConfiguration, type Configuration } from '../service/configuration.js';
import { EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { webWarnings } from '../web/web-config.js';

/**
 * `fleetban check-config`: read and compile everything `fleetban run` would
 * use (every enabled jail with its filter and actions, the fleet, the
 * service), then read every other file of filter.d and action.d so that a
 * broken file is found before a jail starts using it. Prints what resolved,
 * or every error with its file, line and key; exit 2 on any error.
 */
export async function checkConfigCommand(o: { confDir: string }): Promise<number> {
  const errors: string[] = [];
  let config: Configuration | undefined;
  try {
    config = loadConfiguration(o.confDir);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    errors.push(err.message);
  }
  for (const dir of ['filter.d', 'action.d']) {
    for (const file of listConf(join(o.confDir, dir))) {
      try {
        ConfigSet.readFile(file);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        if (!errors.includes(err.message)) errors.push(err.message);
        continue;
      }
      if (dir === 'action.d' && file.endsWith('.conf')) {
        // An action no jail uses yet, read with its own defaults: a value from
        // a log line standing where a second parser reads it is reported now,
        // not when a jail starts using the file. Other problems (a tag only a
        // jail can give) wait for the jail that uses it.
        try {
          readAction(join(o.confDir, dir), { name: file.slice(file.lastIndexOf('/') + 1, -'.conf'.length), params: {} }, 'check-config');
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          if (LOG_TEXT_REFUSED.test(err.reason) && !errors.includes(err.message)) errors.push(err.message);
        }
      }
    }
  }
  if (config) process.stdout.write(describe(config));
  // The status page on a network address without a login (src/web/web-config.ts).
  if (config) for (const w of webWarnings(config.service.web, config.service.metrics.listen)) process.stderr.write(`warning: ${w}\n`);
  if (errors.length > 0) {
    for (const e of errors) process.stderr.write(`error: ${e}\n`);
    process.stderr.write(`${errors.length} error${errors.length > 1 ? 's' : ''} in ${o.confDir}\n`);
    return EXIT_USAGE;
  }
  process.stdout.write(`configuration OK: ${o.confDir}\n`);
  return EXIT_OK;
}

function listConf(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.conf') || f.endsWith('.local'))
      .sort()
      .map((f) => join(dir, f));
  } catch {
    return [];
  }
}

function describe(c: Configuration): string {
  const s = c.service;
  const addr = formatListenAddress;
  const out: string[] = [];
  out.push('service:');
  out.push(`  state:    ${s.stateDir}`);
  out.push(`  socket:   ${s.socket}`);
  out.push(`  udp:      ${s.listen.udp.map(addr).join(', ') || '-'}`);
  out.push(`  tcp:      ${s.listen.tcp.map(addr).join(', ') || '-'}`);
  out.push(`  tls:      ${s.listen.tls.map(addr).join(', ') || '-'}${s.listen.tlsCa ? ' (client certificates required)' : ''}`);
  out.push(`  senders:  ${s.listen.allowedSenders.join(', ') || 'loopback and the fleet (default)'}`);
  out.push(`  journal:  ${s.journal.enabled}${s.journal.directory ? ` ${s.journal.directory}` : ''}${s.journal.file ? ` ${s.journal.file}` : ''}`);
  out.push(`  metrics:  ${s.metrics.listen ? addr(s.metrics.listen) : '-'}`);
  // Where `filter = NAME` is looked up, in order (filter_fallback: fail2ban's stock filters).
  out.push(`  filters:  ${filterSearchPath(c.confDir).map((d) => join(d, 'filter.d')).join(', ')}`);
  out.push('');
  out.push(`jails (${c.jails.length} enabled):`);
  for (const j of c.jails) {
    const jc = j.config;
    out.push(`  [${jc.name}]`);
    if (j.filter) {
      const d = j.filter.definition;
      const params = Object.entries(jc.filter?.params ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
      out.push(`    filter:   ${d.name}${params ? `[${params}]` : ''} (${d.failregex.length} failregex, ${d.ignoreregex.length} ignoreregex; ${d.files.join(', ')})`);
      if (d.journalmatch.length) out.push(`    journal:  ${d.journalmatch.map((g) => g.join(' ')).join(' + ')}`);
    } else {
      out.push(`    filter:   none (fed by ${jc.sources.join(', ')})`);
    }
    const ban = jc.banTime < 0 ? 'for ever' : formatTimeValue(jc.banTime);
    out.push(`    maxretry ${jc.maxRetry} within ${formatTimeValue(jc.findTime)}, bantime ${ban}${jc.increment.enabled ? ' (increment)' : ''}`);
    out.push(`    scope:    ${formatScope(jc.scope)}; sources: ${jc.sources.join(', ') || 'all'}`);
    if (jc.ignoreIp.length) out.push(`    ignoreip: ${jc.ignoreIp.join(' ')}`);
    for (const a of j.actions) {
      const ban4 = a.families.inet4.actionban?.source ?? a.families.inet4.banBatch?.command ?? '-';
      out.push(`    action:   ${a.actname}${a.dryRun ? ' (dry-run: logs, runs nothing)' : ''}: ${ban4.split('\n')[0]}`);
    }
    for (const a of j.centralActions) {
      const ban4 = a.families.inet4.actionban?.source ?? '-';
      out.push(`    central:  ${a.actname}${a.dryRun ? ' (dry-run: logs, runs nothing)' : ''}: ${ban4.split('\n')[0]} (once per ban, on this host)`);
    }
  }
  out.push('');
  out.push(`hosts (${c.hosts.length}):`);
  if (c.hosts.length === 0) out.push('  (none: bans are decided and logged, pushed nowhere)');
  for (const h of c.hosts) {
    out.push(`  ${h.name}: ${h.user}@${h.address}:${h.port} via ${h.driver}${h.groups.length ? `, groups ${h.groups.join(' ')}` : ''}${h.jump ? `, jump ${h.jump}` : ''}`);
  }
  out.push('');
  return out.join('\n');
}
