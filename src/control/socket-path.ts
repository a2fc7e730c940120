import { resolve } from 'node:path';
import { ConfigSet } from '../config/config-set.js';

/**
 * Where the control socket is: `[fleetban] socket` of fleetban.conf (and
 * .local, .d/) in `confDir`, by default `<statedir>/fleetban.sock` with
 * statedir `var`; relative paths are relative to the working directory, as
 * the service reads them. Only this key is read, so `fleetban status` still
 * works when another part of fleetban.conf has a mistake.
 */
export function controlSocketPath(confDir: string): string {
  const conf = ConfigSet.readStack(confDir, 'fleetban');
  const stateDir = conf.get('fleetban', 'statedir')?.trim() || 'var';
  const socket = conf.get('fleetban', 'socket')?.trim() || `${stateDir}/fleetban.sock`;
  return resolve(socket);
}
