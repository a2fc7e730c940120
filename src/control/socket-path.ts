import { ConfigSet } from '../config/config-set.js';
import { statePaths } from '../config/service-reader.js';

/**
 * Where the control socket is: `[fleetban] socket` of fleetban.conf (and
 * .local, .d/) in `confDir`, read as the service reads it. Only that key
 * (and statedir) is read, so `fleetban status` still works when another
 * part of fleetban.conf has a mistake.
 */
export function controlSocketPath(confDir: string): string {
  return statePaths(ConfigSet.readStack(confDir, 'fleetban')).socket;
}
