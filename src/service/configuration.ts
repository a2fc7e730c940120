import { readJailActions, type ActionSpec } from '../config/action-reader.js';
import { readFleet, type FleetHost } from '../config/fleet-reader.js';
import { readJails, type JailConfig } from '../config/jail-reader.js';
import type { ServiceConfig } from '../config/service-config.js';
import { readServiceConfig } from '../config/service-reader.js';
import { loadFilter, type Filter } from '../filters/filter.js';
import { BANS_SOURCE } from '../config/jail-config.js';

/** One enabled jail with everything it needs compiled: its filter and actions. */
export interface ResolvedJail {
  config: JailConfig;
  /** Undefined for a jail fed only by other jails' bans (recidive). */
  filter?: Filter;
  actions: ActionSpec[];
  /** `central_action =`: run once per ban on the central host, not on the mail servers. */
  centralActions: ActionSpec[];
}

/**
 * The whole configuration directory, read, validated and compiled before
 * anything runs: start and reload use it the same way, so a reload with an
 * error anywhere is refused before the running service is touched, and
 * `fleetban check-config` shows exactly what `run` would use.
 */
export interface Configuration {
  confDir: string;
  service: ServiceConfig;
  hosts: FleetHost[];
  jails: ResolvedJail[];
}

export function loadConfiguration(confDir: string): Configuration {
  const service = readServiceConfig(confDir);
  const hosts = readFleet(confDir);
  const jails: ResolvedJail[] = [];
  for (const config of readJails(confDir)) {
    if (!config.enabled) continue;
    const feedsOnBans = config.sources.length > 0 && config.sources.every((s) => s === BANS_SOURCE);
    let filter: Filter | undefined;
    if (config.filter && !feedsOnBans) {
      // The jail's usedns reaches the filter as a parameter; the filter spec's own win.
      filter = loadFilter(confDir, config.filter.name, { usedns: config.useDns, ...config.filter.params });
    }
    jails.push({
      config,
      filter,
      actions: readJailActions(confDir, config),
      centralActions: readJailActions(confDir, { ...config, actions: config.centralActions }),
    });
  }
  return { confDir, service, hosts, jails };
}
