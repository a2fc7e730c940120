import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOURNAL_REMOTE, JournalWriter, nowMicros } from '../helpers/journal-writer.js';
import { missing } from '../helpers/requirements.js';
import { cli, removeConfDir, ServiceProcess, testConfDir } from '../helpers/service-process.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A central host that follows the folder systemd-journal-remote writes: the
 * fleet's journals reach the same jails as syslog does.
 */
describe.skipIf(missing('journal end-to-end', { commands: ['journalctl', JOURNAL_REMOTE] }))('fleetban run following a journal-remote folder', () => {
  let writer: JournalWriter;
  let conf: string;
  let svc: ServiceProcess;

  beforeAll(async () => {
    writer = JournalWriter.start();
    // journal-remote creates the file with its first entry; an unrelated one comes first.
    await writer.write({ __REALTIME_TIMESTAMP: nowMicros(), _HOSTNAME: 'mx9', SYSLOG_IDENTIFIER: 'cron', MESSAGE: 'started' });
    await writer.waitForEntries(1);
    conf = testConfDir({ files: { 'fleetban.d/journal.local': `[journal]\nenabled = yes\ndirectory = ${writer.dir}\n` } });
    svc = await ServiceProcess.start(conf);
  });
  afterAll(async () => {
    await svc?.stop('SIGKILL');
    await writer?.close();
    if (conf) removeConfDir(conf);
  });

  it('bans a vchkpw attacker seen in three servers\' journals', async () => {
    for (const [i, host] of ['mx1', 'mx2', 'mx3', 'mx1', 'mx2'].entries()) {
      await writer.write({
        __REALTIME_TIMESTAMP: nowMicros(),
        _HOSTNAME: host,
        SYSLOG_IDENTIFIER: 'vpopmail',
        _PID: String(3000 + i),
        MESSAGE: `vchkpw-imap: password fail (pass: 'pw${i}') admin@example.com:198.51.100.23`,
      });
    }
    await waitFor('the ban', () => cli(conf, 'banned', '--json').stdout.includes('198.51.100.23'));
    const status = JSON.parse(cli(conf, 'status', '--json').stdout) as { journal: { running: boolean; entries: number } };
    expect(status.journal.running).toBe(true);
    // journalmatch of the shipped jails kept the cron entry away from the filters.
    expect(status.journal.entries).toBe(5);
    expect(JSON.stringify(svc.lines)).not.toMatch(/pw\d/);
  });
});
