import { join } from 'node:path';
import type { Logger } from 'pino';
import type { StateConfig } from '../config/service-config.js';
import { SqliteStateStore } from './sqlite-state-store.js';
import type { StateStore } from './state-store.js';

/** The SQLite state file inside `[fleetban] statedir`. */
export const STATE_FILE = 'fleetban.sqlite3';

export interface OpenStateOptions {
  /** `[fleetban] statedir`: the SQLite file lives there. */
  stateDir: string;
  logger: Logger;
}

/**
 * Open the state `[state] backend` names. SQLite opens at once; PostgreSQL
 * (src/cluster/) connects, migrates and loads this node's cursors first.
 */
export async function openState(config: StateConfig, o: OpenStateOptions): Promise<StateStore> {
  switch (config.backend) {
    case 'sqlite':
      return SqliteStateStore.open(join(o.stateDir, STATE_FILE), { logger: o.logger, node: config.node });
    case 'postgresql':
      // The PostgreSQL implementation of StateStore (src/cluster/) plugs in here.
      throw new Error('[state] backend = postgresql: this build has no PostgreSQL state yet');
  }
}
