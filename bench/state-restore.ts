/**
 * Start-up with 100,000 bans in force: open the state database, restore the
 * bans into the jails, ready to expire them (target: under 2 s).
 * Peer: fail2ban reading as many bans back from its database
 * (bench/state-peer-fail2ban.py, Debian's fail2ban), run side by side.
 *
 *   npx tsx bench/state-restore.ts [BANS]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ConfigSet } from '../src/config/config-set.js';
import { jailsFrom } from '../src/config/jail-reader.js';
import { BanBook } from '../src/bans/ban-book.js';
import { JailManager } from '../src/jails/jail-manager.js';
import { CidrSet } from '../src/net/cidr-set.js';
import { SqliteStateStore } from '../src/state/sqlite-state-store.js';

const N = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'fleetban-restore-'));
const file = join(dir, 'state.sqlite');
const jails = jailsFrom(ConfigSet.fromString('[vpopmail]\nenabled = true\nbantime = 1h\nbantime.increment = true\n', 'bench'));
try {
  // A state with N bans in force (and their history), as a busy service leaves it.
  const now = Date.now();
  const seed = SqliteStateStore.open(file, { flushMs: 0 });
  seed.db.transaction(() => {
    for (let i = 0; i < N; i++) {
      const ip = `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
      seed.commitBan(
        {
          jail: 'vpopmail',
          ip,
          since: now,
          until: now + 3600_000,
          count: 1,
          failures: 5,
          scope: { kind: 'fleet' },
          origins: ['mx1', 'mx2'],
          fields: { user: 'bob@example.com' },
          matches: ['vchkpw-pop3: password fail (pass: ***) bob@example.com'],
          manual: false,
        },
        { jail: 'vpopmail', ip, time: now, banTime: 3600, count: 1 },
      );
    }
  })();
  seed.close();

  const t0 = process.hrtime.bigint();
  const state = SqliteStateStore.open(file, { flushMs: 0 });
  const logger = pino({ level: 'silent' });
  const book = new BanBook({ state, logger, timers: false });
  const manager = new JailManager({ state, book, jails, neverBan: new CidrSet(), logger, timers: false });
  manager.start();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const restored = book.size();
  manager.stop();
  state.close();

  console.log(`fleetban start with ${N.toLocaleString('en')} bans in force`);
  console.log(`  restored:  ${restored.toLocaleString('en')} bans (and their history) in ${seconds.toFixed(3)} s   (target < 2 s)`);
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const peer = spawnSync(python, [new URL('./state-peer-fail2ban.py', import.meta.url).pathname, String(N)], { encoding: 'utf8' });
  if (peer.status !== 0) {
    console.log(`  peer (fail2ban database): not run: ${(peer.stderr || peer.error?.message || '').trim().split('\n').pop()}`);
  } else {
    const p = JSON.parse(peer.stdout) as { seconds: number; restored: number };
    console.log(`fail2ban Fail2BanDb.getCurrentBans, same bans (Python, run side by side):`);
    console.log(`  restored:  ${p.restored.toLocaleString('en')} bans in ${p.seconds.toFixed(3)} s   ratio fail2ban/fleetban ${(p.seconds / seconds).toFixed(1)}x`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
