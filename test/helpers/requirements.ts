import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Suites that need real system parts (root, namespaces, sshd, rsyslogd,
 * journal tools, fail2ban) skip with a line saying what is missing, except
 * under CI=true, where a missing part fails the run: CI must test everything.
 */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function hasCommand(cmd: string): boolean {
  if (cmd.includes('/')) return existsSync(cmd);
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Returns a reason to skip, or undefined when every requirement is met.
 * Use as `describe.skipIf(missing(...))(...)`. Under CI=true it throws instead.
 */
export function missing(suite: string, needs: { root?: boolean; commands?: string[] }): string | undefined {
  const lacks: string[] = [];
  if (needs.root && !isRoot()) lacks.push('root');
  for (const c of needs.commands ?? []) if (!hasCommand(c)) lacks.push(c);
  if (lacks.length === 0) return undefined;
  const line = `skipped ${suite}: needs ${lacks.join(', ')}`;
  if (process.env.CI === 'true') throw new Error(`${line} (CI=true: nothing may be skipped)`);
  process.stderr.write(`${line}\n`);
  return line;
}
