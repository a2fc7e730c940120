import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { JournalConfig } from '../../src/config/service-config.js';
import { type FilterMatch } from '../../src/filters/filter.js';
import { Pipeline } from '../../src/service/pipeline.js';
import { loadFilter } from '../../src/filters/filter.js';
import type { EventSink } from '../../src/model/event-sink.js';
import type { LogEvent } from '../../src/model/log-event.js';
import { FileCursorStore, MemoryCursorStore } from '../../src/sources/journal/file-cursor-store.js';
import {
  combineJournalMatches,
  type CursorStore,
  JournalFollower,
  parseJournalMatch,
} from '../../src/sources/journal/journal-follower.js';
import { type ExportEntry, JOURNAL_REMOTE, JournalWriter } from '../helpers/journal-writer.js';
import { missing } from '../helpers/requirements.js';
import { sleep } from '../helpers/wait.js';

const CONF = join(import.meta.dirname, '../../conf');

/** The pipeline as a source sees it: records events; `full` makes push ask for a pause until drain(). */
class RecordingSink implements EventSink {
  events: LogEvent[] = [];
  full = false;
  pushedWhileFull = 0;
  private listeners: (() => void)[] = [];

  push(ev: LogEvent): boolean {
    if (this.full) this.pushedWhileFull++;
    this.events.push(ev);
    return !this.full;
  }

  onDrain(listener: () => void): void {
    this.listeners.push(listener);
  }

  drain(): void {
    this.full = false;
    for (const l of this.listeners) l();
  }

  messages(): string[] {
    return this.events.map((e) => e.message);
  }
}

/** A pino logger whose records the test can read. */
function capturedLogger() {
  const records: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void records.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, records };
}

async function until(what: string | (() => string), cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}


const fleet: Record<string, string> = { 'mx1.example.net': 'mx1', 'mx2.example.net': 'mx2' };
const originOf = (h: string | undefined) => (h !== undefined && fleet[h]) || h || 'unknown';

/** Things to stop after each test, newest first. */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function writer(): JournalWriter {
  const w = JournalWriter.start();
  cleanups.push(() => w.close());
  return w;
}

function follower(
  w: JournalWriter | { dir: string },
  sink: EventSink,
  opts: Partial<ConstructorParameters<typeof JournalFollower>[2]> & { cfg?: Partial<JournalConfig> } = {},
): JournalFollower {
  const f = new JournalFollower({ enabled: 'yes', directory: w.dir, sinceSeconds: 0, ...opts.cfg }, sink, {
    matches: [],
    cursors: new MemoryCursorStore(),
    originOf,
    logger: pino({ level: 'silent' }),
    restartBaseMs: 50,
    ...opts,
  });
  cleanups.push(() => f.stop());
  return f;
}

const numbered = (from: number, to: number, extra: ExportEntry = {}): ExportEntry[] =>
  Array.from({ length: to - from }, (_, i) => ({ MESSAGE: `entry ${from + i}`, SYSLOG_IDENTIFIER: 'test', ...extra }));

const expectExactlyOnce = (sink: RecordingSink, n: number) => {
  const msgs = sink.messages();
  expect(new Set(msgs).size).toBe(msgs.length);
  expect(msgs).toEqual(Array.from({ length: n }, (_, i) => `entry ${i}`));
};

describe.skipIf(missing('journal source', { commands: ['journalctl', JOURNAL_REMOTE] }))('the journal follower on a real journal', () => {
  it('hands vpopmail and Courier entries from three hosts to the filters with origin, time, app and pid', async () => {
    const w = writer();
    // An entry already in the journal before fleetban starts: a first start reads from now on.
    await w.write({ MESSAGE: 'before start', SYSLOG_IDENTIFIER: 'imapd' });
    await w.waitForEntries(1);
    const sink = new RecordingSink();
    const f = follower(w, sink);
    await f.start();
    const t0 = 1_763_000_000_000_000n; // µs
    await w.write([
      {
        __REALTIME_TIMESTAMP: t0 + 1_234n,
        _HOSTNAME: 'mx1.example.net',
        SYSLOG_IDENTIFIER: 'imapd',
        _COMM: 'couriertcpd',
        _PID: '4711',
        _SYSTEMD_UNIT: 'courier-imap.service',
        MESSAGE: 'LOGIN FAILED, user=bob@example.com, ip=[::ffff:203.0.113.7]',
      },
      {
        __REALTIME_TIMESTAMP: t0 + 2_000_000n,
        _HOSTNAME: 'mx2.example.net',
        SYSLOG_IDENTIFIER: 'vpopmail',
        _PID: '815',
        MESSAGE: 'vchkpw-pop3: password fail alice@example.com:198.51.100.23',
      },
      {
        __REALTIME_TIMESTAMP: t0 + 3_000_000n,
        _HOSTNAME: 'relay7',
        _COMM: 'pop3d-ssl',
        _PID: '99',
        MESSAGE: 'LOGIN FAILED, method=PLAIN, ip=[2001:db8::7]',
      },
    ]);
    await until('three events', () => sink.events.length === 3);
    const [a, b, c] = sink.events as [LogEvent, LogEvent, LogEvent];
    expect([a.origin, b.origin, c.origin]).toEqual(['mx1', 'mx2', 'relay7']);
    expect([a.hostname, b.hostname, c.hostname]).toEqual(['mx1.example.net', 'mx2.example.net', 'relay7']);
    expect([a.time, b.time, c.time]).toEqual([1_763_000_000_001, 1_763_000_002_000, 1_763_000_003_000]);
    expect([a.app, b.app, c.app]).toEqual(['imapd', 'vpopmail', 'pop3d-ssl']);
    expect([a.pid, b.pid, c.pid]).toEqual(['4711', '815', '99']);
    expect(sink.events.every((e) => e.source === 'journal' && e.sender === undefined)).toBe(true);
    expect(a.raw).toBe('mx1.example.net imapd[4711]: LOGIN FAILED, user=bob@example.com, ip=[::ffff:203.0.113.7]');

    // The shipped filters find the failures, with the address and user, as in the syslog line of the same event.
    const courier = loadFilter(CONF, 'courier-auth');
    const vpopmail = loadFilter(CONF, 'vpopmail');
    const ra = courier.matchEvent(a);
    const rb = vpopmail.matchEvent(b);
    const rc = courier.matchEvent(c);
    expect(ra.kind === 'failure' && [ra.match.ip, ra.match.fields.user, ra.match.time]).toEqual(['203.0.113.7', 'bob@example.com', a.time]);
    expect(rb.kind === 'failure' && [rb.match.ip, rb.match.fields.user]).toEqual(['198.51.100.23', 'alice@example.com']);
    expect(rc.kind === 'failure' && rc.match.ip).toBe('2001:db8::7');
    expect(vpopmail.matchEvent(a).kind).toBe('missed');
    const syslogLine = courier.matchLine('Nov 21 10:00:00 mx1.example.net imapd[4711]: LOGIN FAILED, user=bob@example.com, ip=[::ffff:203.0.113.7]');
    expect(syslogLine.kind === 'failure' && [syslogLine.match.ip, syslogLine.match.fields.user]).toEqual(['203.0.113.7', 'bob@example.com']);
    expect(f.state()).toMatchObject({ enabled: true, running: true, entries: 3, skipped: 0, restarts: 0 });
  });

  it('lets journalctl drop the entries no jail asked for (journalmatch), so the filters never see them', async () => {
    const w = writer();
    const sink = new RecordingSink();
    const jails = [loadFilter(CONF, 'courier-auth').journalmatch, loadFilter(CONF, 'vpopmail').journalmatch];
    const matches = combineJournalMatches(jails);
    expect(matches).toContainEqual(['_SYSTEMD_UNIT=courier-imap.service']);
    // The journal's last entry at start matches no jail: journalctl 252's --after-cursor would then skip the first that does.
    await w.write({ _SYSTEMD_UNIT: 'cron.service', SYSLOG_IDENTIFIER: 'CRON', MESSAGE: 'before start' });
    await w.waitForEntries(1);
    const f = follower(w, sink, { matches });
    await f.start();
    const entries: ExportEntry[] = [];
    for (let i = 0; i < 300; i++) {
      if (i % 10 === 0) entries.push({ _SYSTEMD_UNIT: 'courier-imap.service', SYSLOG_IDENTIFIER: 'imapd', MESSAGE: `courier ${i}` });
      else if (i % 10 === 1) entries.push({ _SYSTEMD_UNIT: 'vpopmail.service', SYSLOG_IDENTIFIER: 'vpopmail', MESSAGE: `vpopmail ${i}` });
      // Other units, and a postfix entry that merely mentions courier-imap.service in its text.
      else entries.push({ _SYSTEMD_UNIT: 'postfix@-.service', SYSLOG_IDENTIFIER: 'postfix/smtpd', MESSAGE: `noise ${i} _SYSTEMD_UNIT=courier-imap.service` });
    }
    await w.write(entries);
    await w.waitForEntries(301);
    await until('60 matching entries', () => sink.events.length >= 60);
    await sleep(200);
    expect(sink.events).toHaveLength(60);
    expect(sink.messages().slice(0, 2)).toEqual(['courier 0', 'vpopmail 1']);
    expect(sink.messages().filter((m) => m.startsWith('noise'))).toEqual([]);
    expect(f.state().entries).toBe(60);
  });

  it('restarting fleetban in the middle of a stream handles every entry exactly once', async () => {
    const w = writer();
    const dir = mkdtempSync(join(tmpdir(), 'fleetban-cursor-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const store = new FileCursorStore(join(dir, 'journal.cursor'));
    const sink = new RecordingSink();
    const first = follower(w, sink, { cursors: store });
    await first.start();
    // The writer keeps going while fleetban stops and starts again.
    const writing = (async () => {
      for (let i = 0; i < 2000; i += 100) {
        await w.write(numbered(i, i + 100));
        await sleep(15);
      }
    })();
    await until('part of the stream', () => sink.events.length >= 500);
    await first.stop();
    const handledBefore = sink.events.length;
    expect(store.load()).toBe(first.state().cursor);
    await sleep(50); // entries written while fleetban is down
    const second = follower(w, sink, { cursors: store });
    await second.start();
    await writing;
    await until('all 2000 entries', () => sink.events.length >= 2000);
    await sleep(200);
    expect(handledBefore).toBeLessThan(2000);
    expectExactlyOnce(sink, 2000);
    // Not a write per entry: the cursor is saved on a timer and at stop.
    expect(store.writes).toBeLessThan(50);
  });

  it('after a SIGKILL of fleetban loses nothing and repeats only what followed the last cursor save', async () => {
    const w = writer();
    const dir = mkdtempSync(join(tmpdir(), 'fleetban-kill-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const cursorFile = join(dir, 'journal.cursor');
    const src = join(import.meta.dirname, '../../src/sources/journal');
    // fleetban in a process of its own: the sink appends each message to a file as it is handled.
    const program = `
      import { openSync, writeSync } from 'node:fs';
      import { pino } from 'pino';
      import { JournalFollower } from ${JSON.stringify(join(src, 'journal-follower.ts'))};
      import { FileCursorStore } from ${JSON.stringify(join(src, 'file-cursor-store.ts'))};
      const out = openSync(process.env.HANDLED_FILE, 'a');
      const sink = { push(ev) { writeSync(out, ev.message + '\\n'); return true; }, onDrain() {} };
      const f = new JournalFollower({ enabled: 'yes', directory: ${JSON.stringify(w.dir)}, sinceSeconds: 0 }, sink, {
        matches: [], cursors: new FileCursorStore(${JSON.stringify(cursorFile)}), originOf: (h) => h ?? '',
        logger: pino({ level: 'silent' }), saveIntervalMs: 100, settled: () => Promise.resolve() });
      await f.start();
      writeSync(out, 'READY ' + f.state().pid + '\\n');
    `;
    const runFleetban = (name: string) => {
      const handledFile = join(dir, name);
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], {
        cwd: join(import.meta.dirname, '../..'),
        env: { ...process.env, HANDLED_FILE: handledFile },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      let journalctlPid = 0;
      const lines = (): string[] => {
        let text = '';
        try {
          text = readFileSync(handledFile, 'utf8');
        } catch {}
        const all = text.split('\n').filter((l) => l !== '');
        const ready = all.find((l) => l.startsWith('READY '));
        if (ready) journalctlPid = Number(ready.slice(6));
        return all.filter((l) => !l.startsWith('READY '));
      };
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      cleanups.push(async () => {
        child.kill('SIGKILL');
        await exited;
        // journalctl of a killed fleetban ends at its next write to the closed pipe; do not wait for that.
        try {
          if (journalctlPid) process.kill(journalctlPid, 'SIGTERM');
        } catch {}
      });
      return {
        child,
        lines,
        exited,
        ready: () => until('fleetban ready', () => (lines(), journalctlPid > 0), 30_000),
      };
    };
    const a = runFleetban('a.handled');
    await a.ready();
    let stopWriting = false;
    const total = 3000;
    const writing = (async () => {
      for (let i = 0; i < total && !stopWriting; i += 50) {
        await w.write(numbered(i, i + 50));
        await sleep(10);
      }
    })();
    await until('a part of the stream', () => a.lines().length >= 1000);
    a.child.kill('SIGKILL');
    await a.exited;
    const savedBeforeKill = readFileSync(cursorFile, 'utf8').trim();
    expect(savedBeforeKill).toMatch(/^s=/);
    const b = runFleetban('b.handled');
    await b.ready();
    await writing;
    await until('the rest of the stream', () => b.lines().includes(`entry ${total - 1}`), 30_000);
    stopWriting = true;
    const index = (l: string) => Number(l.replace('entry ', ''));
    const handledA = a.lines();
    const handledB = b.lines();
    const lastOfA = index(handledA.at(-1)!);
    const firstOfB = index(handledB[0]!);
    // Nothing lost: b starts at or before the entry after a's last one, and every entry was handled.
    expect(firstOfB).toBeLessThanOrEqual(lastOfA + 1);
    expect(new Set([...handledA, ...handledB]).size).toBe(total);
    expect(handledA).toEqual(handledA.map((_, i) => `entry ${i}`));
    // Repeated: only the entries a handled after its last cursor save (saved every 100 ms).
    const repeated = lastOfA - firstOfB + 1;
    expect(repeated).toBeLessThan(1500);
    expect(handledB.slice(0, Math.max(0, repeated))).toEqual(handledA.slice(handledA.length - Math.max(0, repeated)));
    console.log(`SIGKILL of fleetban: ${handledA.length} handled before, ${repeated} handled again after the restart`);
  });

  it('restarts journalctl killed with SIGKILL, losing and repeating nothing', async () => {
    const w = writer();
    const { logger, records } = capturedLogger();
    const sink = new RecordingSink();
    const f = follower(w, sink, { logger });
    await f.start();
    await w.write(numbered(0, 500));
    await until('first entries', () => sink.events.length > 0);
    const pid = f.state().pid!;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    await w.write(numbered(500, 1000));
    await until('a new journalctl', () => f.state().running && f.state().pid !== pid);
    await w.write(numbered(1000, 1200));
    await until('all entries', () => sink.events.length >= 1200);
    await sleep(200);
    expectExactlyOnce(sink, 1200);
    expect(f.state()).toMatchObject({ restarts: 1, lastExit: 'killed by SIGKILL' });
    expect(records.some((r) => r.msg === 'journalctl ended; restarting it' && r.exit === 'killed by SIGKILL')).toBe(true);
  });

  it('logs each restart of a failing journalctl with its exit status and last stderr line, with growing delays', async () => {
    const w = writer();
    const dir = mkdtempSync(join(tmpdir(), 'fleetban-jctl-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // A journalctl that fails its first three follow runs, then works.
    const wrapper = join(dir, 'journalctl');
    writeFileSync(
      wrapper,
      `#!/bin/sh\ncase " $* " in *" --follow "*)\n  n=$(cat ${dir}/runs 2>/dev/null || echo 0); echo $((n+1)) > ${dir}/runs\n  if [ "$n" -lt 3 ]; then echo "journalctl: something went wrong" >&2; echo "Failed to iterate through journal: Bad message" >&2; exit 1; fi;;\nesac\nexec journalctl "$@"\n`,
    );
    chmodSync(wrapper, 0o755);
    const { logger, records } = capturedLogger();
    const sink = new RecordingSink();
    const f = follower(w, sink, { logger, journalctl: wrapper });
    await f.start();
    await w.write(numbered(0, 10));
    await until('entries after the restarts', () => sink.events.length >= 10);
    expectExactlyOnce(sink, 10);
    expect(f.state()).toMatchObject({ restarts: 3, lastExit: 'exit status 1', lastStderr: 'Failed to iterate through journal: Bad message' });
    const restarts = records.filter((r) => r.msg === 'journalctl ended; restarting it');
    expect(restarts.map((r) => r.stderr)).toEqual(Array(3).fill('Failed to iterate through journal: Bad message'));
    const delays = restarts.map((r) => r.restartInMs as number);
    expect(delays[2]).toBeGreaterThan(delays[0]!);
  });

  it('keeps binary-valued and repeated fields apart from text, end to end', async () => {
    const w = writer();
    const sink = new RecordingSink();
    const f = follower(w, sink);
    await f.start();
    await w.write([
      // Invalid UTF-8 and a control byte in the user name.
      { SYSLOG_IDENTIFIER: 'imapd', MESSAGE: Buffer.from('LOGIN FAILED, user=\xff\x01x, ip=[::ffff:203.0.113.50]', 'latin1') },
      // A newline inside the message: journalctl prints it as a string.
      { SYSLOG_IDENTIFIER: 'imapd', MESSAGE: 'LOGIN FAILED, user=a\nb, ip=[::ffff:203.0.113.51]' },
      // MESSAGE twice, and the program name repeated.
      { SYSLOG_IDENTIFIER: ['imapd', 'pop3d'], MESSAGE: ['first part', Buffer.from([0x41, 0x00, 0x42])] },
      // No MESSAGE at all.
      { SYSLOG_IDENTIFIER: 'imapd', OTHER: 'x' },
      { SYSLOG_IDENTIFIER: 'imapd', MESSAGE: 'after' },
    ]);
    await until('the last entry', () => sink.messages().includes('after'));
    expect(sink.messages()).toEqual([
      'LOGIN FAILED, user=\uFFFD#001x, ip=[::ffff:203.0.113.50]',
      'LOGIN FAILED, user=a\nb, ip=[::ffff:203.0.113.51]',
      'first part',
      'A#000B',
      'after',
    ]);
    expect(sink.events[2]!.app).toBe('imapd');
    expect(f.state()).toMatchObject({ entries: 4, skipped: 1 });
    const courier = loadFilter(CONF, 'courier-auth');
    const r0 = courier.matchEvent(sink.events[0]!);
    expect(r0.kind === 'failure' && r0.match.ip).toBe('203.0.113.50');
  });

  it('pauses reading while the pipeline is full and goes on when it drained, in order', async () => {
    const w = writer();
    const sink = new RecordingSink();
    const f = follower(w, sink);
    await f.start();
    sink.full = true;
    await w.write(numbered(0, 3000));
    await w.waitForEntries(3000);
    await until('the first push', () => sink.events.length > 0);
    await sleep(300);
    // One push was answered "full"; the follower stopped at that entry and read no further.
    expect(sink.events).toHaveLength(1);
    expect(f.state().paused).toBe(true);
    sink.drain();
    await until('all entries', () => sink.events.length >= 3000);
    expectExactlyOnce(sink, 3000);
    expect(f.state().paused).toBe(false);
  });

  // A burst 30 times the high-water mark: enough to pause and resume the
  // reader many times. The limits below are for a slow, loaded CI machine;
  // the speed itself is measured in bench/journal.ts, not here.
  it('takes a burst of 30,000 entries through the real pipeline without its queue growing past the high-water mark', { timeout: 180_000 }, async () => {
    const w = writer();
    let failures = 0;
    const courier = loadFilter(CONF, 'courier-auth');
    const pipeline = new Pipeline<FilterMatch>(
      [{ name: 'courier-auth', filterName: 'courier-auth', sources: null, filter: courier }],
      () => failures++,
      pino({ level: 'silent' }),
      1000,
    );
    let deepest = 0;
    const sink: EventSink = {
      push: (ev) => {
        const ok = pipeline.push(ev);
        deepest = Math.max(deepest, pipeline.depth);
        return ok;
      },
      onDrain: (l) => pipeline.onDrain(l),
    };
    const f = follower(w, sink, { settled: () => pipeline.flush() });
    await f.start();
    const burst: ExportEntry[] = [];
    for (let i = 0; i < 30_000; i++) {
      burst.push({ _SYSTEMD_UNIT: 'courier-imap.service', SYSLOG_IDENTIFIER: 'imapd', MESSAGE: `LOGIN FAILED, user=u${i}, ip=[::ffff:203.0.113.${i % 250}]` });
    }
    await w.write(burst);
    await until(() => `30,000 failures (${failures} so far, ${f.state().entries} entries read, queue ${pipeline.depth}, paused ${f.state().paused})`, () => failures === 30_000, 150_000);
    expect(f.state().entries).toBe(30_000);
    expect(deepest).toBeLessThanOrEqual(1000);
    await until('the cursor saved', () => f.state().savedCursor === f.state().cursor, 5000);
  });

  it('skips an entry longer than the limit and counts it; takes a 1 MB message whole under the default limit', async () => {
    const w = writer();
    const small = new RecordingSink();
    const big = new RecordingSink();
    const limited = follower(w, small, { maxEntryBytes: 64 * 1024 });
    const whole = follower(w, big);
    await limited.start();
    await whole.start();
    const huge = 'x'.repeat(1024 * 1024);
    await w.write([{ MESSAGE: 'one' }, { MESSAGE: huge }, { MESSAGE: 'two' }]);
    await until('both followers', () => small.events.length >= 2 && big.events.length >= 3);
    expect(small.messages()).toEqual(['one', 'two']);
    expect(limited.state().skipped).toBe(1);
    expect(big.events[1]!.message).toHaveLength(huge.length);
  });

  it('changes the matches on reload and resumes after the last entry handled', async () => {
    const w = writer();
    const sink = new RecordingSink();
    const f = follower(w, sink, { matches: parseJournalMatch('SYSLOG_IDENTIFIER=imapd') });
    await f.start();
    await w.write([{ SYSLOG_IDENTIFIER: 'imapd', MESSAGE: 'i1' }, { SYSLOG_IDENTIFIER: 'vpopmail', MESSAGE: 'v1' }]);
    await until('i1', () => sink.events.length === 1);
    const pid = f.state().pid;
    await f.updateMatches(parseJournalMatch('SYSLOG_IDENTIFIER=vpopmail'));
    await w.write([{ SYSLOG_IDENTIFIER: 'imapd', MESSAGE: 'i2' }, { SYSLOG_IDENTIFIER: 'vpopmail', MESSAGE: 'v2' }]);
    await until('v2', () => sink.messages().includes('v2'));
    await sleep(100);
    // v1 was written before the change but after the last handled entry: the new matches take it.
    expect(sink.messages()).toEqual(['i1', 'v1', 'v2']);
    expect(f.state().pid).not.toBe(pid);
    expect(f.state().restarts).toBe(0);
    await f.updateMatches([]);
    await w.write({ SYSLOG_IDENTIFIER: 'postfix', MESSAGE: 'p3' });
    await until('p3', () => sink.messages().includes('p3'));
  });

  it('starts `since` seconds back on a first start, then from the saved cursor', async () => {
    const w = writer();
    const now = BigInt(Date.now()) * 1000n;
    await w.write([
      { __REALTIME_TIMESTAMP: now - 7_200_000_000n, MESSAGE: 'two hours ago' },
      { __REALTIME_TIMESTAMP: now - 60_000_000n, MESSAGE: 'a minute ago' },
    ]);
    await w.waitForEntries(2);
    const store = new MemoryCursorStore();
    const sink = new RecordingSink();
    const f = follower(w, sink, { cursors: store, cfg: { sinceSeconds: 600 } });
    await f.start();
    await until('the recent entry', () => sink.events.length >= 1);
    await f.stop();
    await w.write({ MESSAGE: 'while stopped' });
    const again = follower(w, sink, { cursors: store, cfg: { sinceSeconds: 600 } });
    await again.start();
    await until('the entry written while stopped', () => sink.events.length >= 2);
    await sleep(100);
    expect(sink.messages()).toEqual(['a minute ago', 'while stopped']);
  });

  it('follows an empty journal-remote folder and reads the files that appear in it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetban-remote-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const { logger, records } = capturedLogger();
    const sink = new RecordingSink();
    const f = follower({ dir }, sink, { logger });
    await f.start();
    expect(records.some((r) => r.msg === 'no journal files yet; following the folder for new ones')).toBe(true);
    const w = JournalWriter.start({ dir, name: 'remote-mx1.journal' });
    cleanups.push(() => w.close());
    await w.write({ _HOSTNAME: 'mx1.example.net', MESSAGE: 'first upload' });
    await until('the first uploaded entry', () => sink.events.length === 1);
    expect(sink.events[0]!.origin).toBe('mx1');
  });
});

describe.skipIf(missing('journal source startup', { commands: ['journalctl', 'setpriv', JOURNAL_REMOTE] }))('starting the journal follower', () => {
  /** journalctl run as nobody, who may not read the test's journal folder (mode 0700, root's). */
  function unprivilegedJournalctl(): string {
    const dir = mkdtempSync(join(tmpdir(), 'fleetban-nobody-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'journalctl');
    writeFileSync(path, '#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups journalctl "$@"\n');
    chmodSync(path, 0o755);
    return path;
  }

  it('refuses to start when enabled = yes and the journal cannot be read, saying why', async () => {
    const w = writer();
    await w.write({ MESSAGE: 'x' });
    const f = follower(w, new RecordingSink(), { journalctl: unprivilegedJournalctl() });
    await expect(f.start()).rejects.toThrow(
      new RegExp(`^\\[journal\\] enabled = yes, but the journal directory ${w.dir} cannot be followed: .*Permission denied`),
    );
    expect(f.state()).toMatchObject({ enabled: false, running: false });
  });

  it('with enabled = auto, warns and stays off when the journal cannot be read or journalctl is missing', async () => {
    const w = writer();
    for (const journalctl of [unprivilegedJournalctl(), '/nonexistent/journalctl']) {
      const { logger, records } = capturedLogger();
      const f = follower(w, new RecordingSink(), { journalctl, logger, cfg: { enabled: 'auto' } });
      await f.start();
      expect(f.state()).toMatchObject({ enabled: false, running: false });
      const warn = records.find((r) => r.level === 40);
      expect(warn?.msg).toMatch(/journal source off: the journal directory .* cannot be followed/);
    }
  });

  it('refuses a missing journalctl or a missing journal file when enabled = yes; does nothing when enabled = no', async () => {
    const w = writer();
    await expect(follower(w, new RecordingSink(), { journalctl: '/nonexistent/journalctl' }).start()).rejects.toThrow(
      /journalctl cannot be run \(\/nonexistent\/journalctl: ENOENT\)/,
    );
    await expect(
      follower(w, new RecordingSink(), { cfg: { directory: undefined, file: join(w.dir, 'none.journal') } }).start(),
    ).rejects.toThrow(/journal file .*none\.journal cannot be followed: .*No such file or directory/);
    const off = follower(w, new RecordingSink(), { cfg: { enabled: 'no' } });
    await off.start();
    expect(off.state().enabled).toBe(false);
  });

  it('ignores a saved cursor that is not a journalctl cursor and starts from now', async () => {
    const w = writer();
    await w.write({ MESSAGE: 'old' });
    await w.waitForEntries(1);
    const store: CursorStore = new MemoryCursorStore('--since=yesterday');
    const sink = new RecordingSink();
    const f = follower(w, sink, { cursors: store });
    await f.start();
    await w.write({ MESSAGE: 'new' });
    await until('new', () => sink.events.length >= 1);
    await sleep(100);
    expect(sink.messages()).toEqual(['new']);
  });
});
