import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigSet } from './config-set.js';
import { SectionReader, splitList } from './values.js';

/**
 * Where fleetban looks for fail2ban's own configuration when a jail names a
 * filter its configuration folder does not ship (`filter = sshd`): the
 * installed fail2ban package's folder, as fail2ban's own jail.conf would find
 * it. Written in fleetban.conf as `[fleetban] filter_fallback`.
 */
export const DEFAULT_FILTER_FALLBACK = '/etc/fail2ban';

/**
 * The folders whose `filter.d/` are searched for a filter name, in order:
 * the configuration folder itself, then each folder of `[fleetban]
 * filter_fallback` (fleetban.conf, .local, fleetban.d/). Relative entries are
 * relative to the configuration folder; an empty value turns the fallback
 * off; a folder that does not exist is passed over (fail2ban need not be
 * installed). Read when a filter is looked up, so `fleetban regex`,
 * `check-config`, `run` and `reload` all search the same folders.
 */
export function filterSearchPath(confDir: string): string[] {
  const conf = ConfigSet.readStack(confDir, 'fleetban');
  const value = new SectionReader(conf, 'fleetban').string('filter_fallback', DEFAULT_FILTER_FALLBACK);
  return [confDir, ...splitList(value).map((d) => resolve(confDir, d))];
}

/**
 * The `filter.d` folder that holds filter `name` (`NAME.conf` or
 * `NAME.local`): the first one on the search path, so a filter of the same
 * name in fleetban's own folder wins over the stock one. The files of that
 * folder only are read (NAME.conf, NAME.d/, NAME.local), and `before =
 * common.conf` is read from the same folder, as fail2ban reads it.
 */
export function findFilterFolder(confDir: string, name: string): string | undefined {
  const own = join(confDir, 'filter.d');
  if (hasFilter(own, name)) return own;
  for (const base of filterSearchPath(confDir).slice(1)) {
    const dir = join(base, 'filter.d');
    if (hasFilter(dir, name)) return dir;
  }
  return undefined;
}

function hasFilter(dir: string, name: string): boolean {
  return isFile(join(dir, `${name}.conf`)) || isFile(join(dir, `${name}.local`));
}

export function isFile(p: string): boolean {
  try {
    return existsSync(p) && statSync(p).isFile();
  } catch {
    return false;
  }
}
