import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand, isRoot } from './requirements.js';

/**
 * A syslog-ng to check our snippet with. Debian's syslog-ng-core conflicts
 * with rsyslog, which the other suites need, so when it is not installed the
 * package and the libraries it lacks are downloaded with `apt-get download`
 * and unpacked into a cache folder: a working syslog-ng that installs
 * nothing. Returns the command to run (argv prefix and environment), or
 * undefined when neither way is open (not root, or no apt).
 */
export interface SyslogNg {
  argv: string[];
  env: NodeJS.ProcessEnv;
}

const PACKAGES = ['syslog-ng-core', 'libivykis0', 'libnet1', 'libpcre3'];

export function syslogNg(): SyslogNg | undefined {
  if (hasCommand('syslog-ng')) return { argv: ['syslog-ng'], env: process.env };
  if (!isRoot() || !hasCommand('apt-get')) return undefined;
  const cache = join(tmpdir(), 'fleetban-syslog-ng');
  const root = join(cache, 'root');
  const bin = join(root, 'usr/sbin/syslog-ng');
  if (!existsSync(bin)) {
    mkdirSync(cache, { recursive: true });
    execFileSync('apt-get', ['download', ...PACKAGES], { cwd: cache, stdio: 'ignore' });
    for (const deb of readdirSync(cache).filter((f) => f.endsWith('.deb'))) {
      execFileSync('dpkg-deb', ['-x', join(cache, deb), root]);
    }
  }
  const modules = readdirSync(join(root, 'usr/lib/syslog-ng')).find((d) => /^\d+\.\d+$/.test(d));
  return {
    argv: [bin, `--module-path=${join(root, 'usr/lib/syslog-ng', modules ?? '')}`],
    env: {
      ...process.env,
      LD_LIBRARY_PATH: [
        join(root, 'usr/lib/x86_64-linux-gnu'),
        join(root, 'lib/x86_64-linux-gnu'),
        join(root, 'usr/lib/syslog-ng'),
      ].join(':'),
    },
  };
}
