import { execFile } from 'node:child_process';

/**
 * fail2ban's `ignorecommand`: a command run with the address before a ban;
 * exit status 0 means "this address is to be ignored", 1 means "ban it".
 * The address is canonical (printed by src/net/address), so it is safe to
 * place in a shell command. Anything else (another status, a timeout, no
 * such command) is an error, and the ban goes ahead: a broken helper must not
 * let attackers through.
 */
export function runIgnoreCommand(command: string, ip: string, timeoutMs = 10_000): Promise<{ ignore: boolean; error?: string }> {
  const cmd = command.replace(/<ip>/g, ip);
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', cmd], { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 }, (err) => {
      if (!err) return resolve({ ignore: true });
      const e = err as { code?: number | string; killed?: boolean; message: string };
      if (e.code === 1) return resolve({ ignore: false });
      if (e.killed) return resolve({ ignore: false, error: `timed out after ${timeoutMs} ms` });
      return resolve({ ignore: false, error: typeof e.code === 'number' ? `exit status ${e.code}` : e.message });
    });
  });
}
