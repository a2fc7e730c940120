import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Suites that run the real `fleetban` binary need dist/ built from the
 * current sources. `npm test` builds first; a developer running vitest
 * directly gets a rebuild here when any source is newer than the build.
 */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export default function setup(): void {
  const built = 'dist/src/cli/main.js';
  if (existsSync(built) && statSync(built).mtimeMs >= newest('src')) return;
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
