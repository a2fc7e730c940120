import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAction } from '../../src/config/action-reader.js';
import { missing } from '../helpers/requirements.js';
import { NetnsFleet } from '../helpers/netns-fleet.js';
import { FleetHarness } from './harness.js';

const skip = missing('log values as data over SSH', { root: true, commands: ['ip', 'ssh', '/usr/sbin/sshd', 'unshare', 'ssh-keygen'] });

describe.skipIf(skip)("issue 10's action through the shell driver to a real sshd", () => {
  let fleet: NetnsFleet;
  const dir = mkdtempSync(join(tmpdir(), 'fbf-ac-'));
  beforeAll(async () => {
    fleet = await NetnsFleet.create({ tag: 'ac', block: 21, count: 1 });
  });
  afterAll(async () => {
    await fleet?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the case-in-$( ) action with the user field as plain text: the substitution never runs', async () => {
    const log = join(dir, 'said.log');
    const marker = join(dir, 'x');
    writeFileSync(
      join(dir, 'note.conf'),
      [
        '[Definition]',
        // The actionban, printing what logger would have been given.
        `actionban = printf '%%s\\n' "banned <ip> user $(case <family> in inet4) echo <F-USER>;; *) echo v6;; esac)" >> ${log}`,
        'actionunban = true',
        '',
      ].join('\n'),
    );
    const action = readAction(dir, { name: 'note', params: {} }, 'courier-auth');
    const h = new FleetHarness(fleet.fleetHosts('shell'), { 'courier-auth': [action] }).start();
    try {
      const users = [`$(touch ${marker})`, `\`touch ${marker}\``, `'"; touch ${marker}; "'`, `a\ntouch ${marker}\n`];
      users.forEach((user, i) => h.ban('courier-auth', `198.51.100.${111 + i}`, { fields: { user } }));
      for (let i = 0; i < users.length; i++) await h.until('courier-auth', `198.51.100.${111 + i}`, ['mx1'], 'applied');
      expect(existsSync(marker)).toBe(false);
      const said = readFileSync(log, 'utf8');
      // $( ) strips trailing newlines of what echo printed; the rest arrives byte for byte.
      for (let i = 0; i < users.length; i++) expect(said).toContain(`banned 198.51.100.${111 + i} user ${users[i]!.replace(/\n+$/, '')}\n`);
    } finally {
      await h.stop();
    }
  });
});
