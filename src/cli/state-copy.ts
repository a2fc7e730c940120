import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { copyState } from '../cluster/state-copy.js';
import { parseStateUrl, redactUrl, statePassword, StateUrlError } from '../cluster/state-url.js';
import { ConfigSet } from '../config/config-set.js';
import { statePaths } from '../config/service-reader.js';
import { CliError, EXIT_NOT_SO, EXIT_OK } from './exit-codes.js';

/** The SQLite state file inside `[fleetban] statedir` (the service's STATE_FILE). */
const STATE_FILE = 'fleetban.sqlite3';

/** `fleetban state copy --to URL`: the SQLite state of this host into PostgreSQL. */
export async function stateCopyCommand(o: { confDir: string; to: string; passwordFile?: string }): Promise<number> {
  let url;
  try {
    url = parseStateUrl(o.to);
  } catch (err) {
    if (err instanceof StateUrlError) throw new CliError(err.message);
    throw err;
  }
  const password = statePassword(url, o.passwordFile);
  const file = join(statePaths(ConfigSet.readStack(o.confDir, 'fleetban')).stateDir, STATE_FILE);
  if (!existsSync(file)) throw new CliError(`no SQLite state at ${file}`, EXIT_NOT_SO);
  const n = await copyState(file, url, password).catch((err: Error) => {
    throw new CliError(`copying to ${redactUrl(o.to)} failed: ${err.message}`, EXIT_NOT_SO);
  });
  process.stdout.write(
    `Copied ${file} to ${redactUrl(o.to)}: ${n.bans} bans, ${n.history} history rows, ${n.failures} failures, ` +
      `${n.ledger} ledger rows, ${n.hosts} hosts${n.skipped ? ` (${n.skipped} rows already there, kept)` : ''}\n`,
  );
  return EXIT_OK;
}
