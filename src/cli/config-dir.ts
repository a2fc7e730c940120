import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: dist/src/cli/ -> three levels up; src/cli/ under tsx -> two. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
}

/**
 * Where configuration lives when `-c` is not given: the repository's `conf/`
 * when fleetban runs from a checkout (so the README's first command works on
 * the embedded defaults), `/etc/fleetban` when installed.
 */
export function defaultConfigDir(): string {
  const root = packageRoot();
  if (existsSync(join(root, '.git')) && existsSync(join(root, 'conf', 'fleetban.conf'))) {
    return join(root, 'conf');
  }
  return '/etc/fleetban';
}
