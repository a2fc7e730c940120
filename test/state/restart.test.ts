import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStateStore } from '../../src/state/sqlite-state-store.js';
import { Clock, setup } from '../jails/helpers.js';

const JAILS = `
[vpopmail]
enabled = true
maxretry = 3
findtime = 10m
bantime = 1h
bantime.increment = true
`;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Run the crashing service on a fresh state file, SIGKILL it once it is ready; returns the file and its clock. */
async function runAndKill(): Promise<{ file: string; readyAt: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetban-state-'));
  dirs.push(dir);
  const file = join(dir, 'state.sqlite');
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./fixtures/crashing-service.ts', import.meta.url).pathname, file, JAILS], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const readyAt = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /ready (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', (code) => reject(new Error(`child exited early with ${code}`)));
    });
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect(child.signalCode).toBe('SIGKILL');
    return { file, readyAt };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

describe('kill -9 and restart', () => {
  it('brings back bans, failures, ban history, cursors and the ledger', async () => {
    const { file, readyAt } = await runAndKill();
    const clock = new Clock();
    clock.t = readyAt + 1000;
    const state = SqliteStateStore.open(file, { flushMs: 0 });
    try {
      const { manager, listener, fail } = setup(JAILS, { state, clock });
      // Bans: both still in force, nothing lifted.
      expect(manager.isBanned('vpopmail', '203.0.113.1')).toBe(true);
      expect(manager.isBanned('vpopmail', '203.0.113.3')).toBe(true);
      expect(listener.unbans).toEqual([]);
      expect(state.loadBans().find((b) => b.ip === '203.0.113.1')).toMatchObject({ origins: ['mx1', 'mx2', 'mx3'], failures: 3, count: 1 });
      expect(state.ledger().hostsOf('vpopmail', '203.0.113.1')).toEqual({ mx1: 'applied' });
      // Failures: 203.0.113.2 had two; one more bans it.
      expect(manager.status('vpopmail')).toMatchObject({ currentlyFailed: 1, currentlyBanned: 2 });
      fail('vpopmail', '203.0.113.2', 'mx3');
      expect(listener.bans.map((b) => b.ip)).toEqual(['203.0.113.2']);
      expect(listener.bans[0]!.origins.sort()).toEqual(['mx1', 'mx2', 'mx3']);
      // History: once its ban is over, 203.0.113.1 is a second-time offender: 2 h, and its failures weigh double.
      expect(manager.unban('vpopmail', '203.0.113.1')).toBe(1);
      fail('vpopmail', '203.0.113.1');
      fail('vpopmail', '203.0.113.1');
      const again = listener.bans[1]!;
      expect(again).toMatchObject({ ip: '203.0.113.1', count: 2 });
      expect((again.until! - again.since) / 1000).toBe(7200);
      expect(state.cursorStore('journal').load()).toBe('s=abc;i=42');
      manager.stop();
    } finally {
      state.close();
    }
  });

  it('lifts at start, and announces, the bans that ended while the service was down', async () => {
    const { file, readyAt } = await runAndKill();
    const clock = new Clock();
    clock.t = readyAt + 2 * 3600_000;
    const state = SqliteStateStore.open(file, { flushMs: 0 });
    try {
      const { manager, listener } = setup(JAILS, { state, clock });
      expect(listener.unbans.map((u) => [u.ip, u.reason]).sort()).toEqual([
        ['203.0.113.1', 'start'],
        ['203.0.113.3', 'start'],
      ]);
      expect(listener.unbans.find((u) => u.ip === '203.0.113.1')!.origins.sort()).toEqual(['mx1', 'mx2', 'mx3']);
      expect(state.loadBans()).toEqual([]);
      // Failures older than findtime are forgotten too.
      expect(manager.status('vpopmail')).toMatchObject({ currentlyFailed: 0, currentlyBanned: 0 });
      manager.stop();
    } finally {
      state.close();
    }
  });

  it('lifts at start the bans of a jail that is no longer configured', async () => {
    const { file, readyAt } = await runAndKill();
    const clock = new Clock();
    clock.t = readyAt + 1000;
    const state = SqliteStateStore.open(file, { flushMs: 0 });
    try {
      const { listener } = setup('[courier-auth]\nenabled = true\n', { state, clock });
      expect(listener.unbans.map((u) => [u.jail, u.reason])).toEqual([
        ['vpopmail', 'start'],
        ['vpopmail', 'start'],
      ]);
    } finally {
      state.close();
    }
  });
});
