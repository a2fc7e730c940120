import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** A fresh ed25519 key pair without passphrase; returns the public key line. */
export function sshKeygen(path: string, comment = 'fleetban-test'): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], { stdio: 'ignore' });
  return readFileSync(`${path}.pub`, 'utf8').trim();
}

/**
 * A user with /bin/sh and uid 0 for test sshds: the commands it runs change
 * routes and firewalls inside the namespaces (root's own login shell here
 * costs ~100 ms a command). Created once and kept: suites running in
 * parallel share it, and removing it under one of them would break it.
 */
export const TEST_USER = 'fbfleet';

export function ensureTestUser(): void {
  for (let attempt = 0; attempt < 20; attempt++) {
    if (userExists()) return;
    try {
      execFileSync('useradd', ['-o', '-u', '0', '-g', '0', '-M', '-d', '/', '-s', '/bin/sh', TEST_USER], { stdio: 'ignore' });
      // A locked account ('!') cannot log in even with a key; '*' has no password but is not locked.
      execFileSync('usermod', ['-p', '*', TEST_USER], { stdio: 'ignore' });
      return;
    } catch {
      // Another suite holds /etc/passwd's lock, or created the user first.
      execFileSync('sleep', ['0.2']);
    }
  }
  if (!userExists()) throw new Error(`cannot create test user ${TEST_USER}`);
}

function userExists(): boolean {
  try {
    execFileSync('getent', ['passwd', TEST_USER], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
