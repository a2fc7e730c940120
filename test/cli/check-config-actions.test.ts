import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, removeConfDir, testConfDir } from '../helpers/service-process.js';

/** Issue 10's action, as an administrator would write it in action.d. */
const HOSTILE = [
  '[Definition]',
  'actionban = logger -t fleetban "banned <ip>"',
  '            sh -c "logger user <F-USER>"',
  'actionunban = true',
  '',
].join('\n');

describe('fleetban check-config and actions that would hand log text to a second parser', () => {
  it('reports the action a jail uses, with file, line and tag, and exits 2', () => {
    const conf = testConfDir({
      files: { 'action.d/notify.conf': HOSTILE, 'jail.local': '[vpopmail]\naction = notify\n' },
    });
    try {
      const r = cli(conf, 'check-config');
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${join(conf, 'action.d/notify.conf')}:3: [Definition] actionban: <F-USER> carries text from log lines and the command runs sh`);
    } finally {
      removeConfDir(conf);
    }
  });

  it('reports it in an action.d file no jail uses yet', () => {
    const conf = testConfDir({ files: { 'action.d/spare.conf': '[Definition]\nactionban = eval "logger <matches>"\n' } });
    try {
      const r = cli(conf, 'check-config');
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${join(conf, 'action.d/spare.conf')}:2: [Definition] actionban: <matches> carries text from log lines and the command runs eval`);
    } finally {
      removeConfDir(conf);
    }
  });

  it('accepts a value from a log line as a double-quoted word', () => {
    const conf = testConfDir({
      files: { 'action.d/notify.conf': '[Definition]\nactionban = logger -t fleetban "banned <ip> user <F-USER>"\n', 'jail.local': '[vpopmail]\naction = notify\n' },
    });
    try {
      const r = cli(conf, 'check-config');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('action:   notify: logger -t fleetban "banned <ip> user <F-USER>"');
    } finally {
      removeConfDir(conf);
    }
  });
});
