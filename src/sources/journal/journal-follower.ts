import type { execa as Execa, ResultPromise } from 'execa';
import type { Logger } from 'pino';
import type { JournalConfig } from '../../config/service-config.js';
import { Backoff } from '../../fleet/backoff.js';
import type { EventSink } from '../../model/event-sink.js';
import type { CursorStore } from '../../state/cursor-store.js';
import { entryCursor, entryEvents } from './journal-entry.js';
import { describeSource, followArgs, isCursor, matchArgs, sameEntry, type StartPosition } from './journalctl-args.js';
import { lastLine, probeJournal } from './journal-probe.js';
import { journalctlRunner } from './journalctl-runner.js';
import { LineSplitter } from './line-splitter.js';

export type { CursorStore } from '../../state/cursor-store.js';
/** fail2ban's journalmatch syntax: FIELD=value terms ANDed, `+` (or a new line) starts an OR-ed group. */
export { parseJournalMatch } from '../../config/filter-reader.js';
export { combineJournalMatches } from './journalctl-args.js';

export interface JournalFollowerOptions {
  /** OR of AND-groups of FIELD=value, from the jails' journalmatch (combineJournalMatches); []: every entry. */
  matches: string[][];
  /** Where the cursor of the last handled entry is kept across restarts of fleetban. */
  cursors: CursorStore;
  /** The fleet host an entry's _HOSTNAME names, else the hostname itself. */
  originOf(hostname: string | undefined): string;
  logger: Logger;
  /** journalctl to run (a path, for tests); default `journalctl` from PATH. */
  journalctl?: string;
  /**
   * Resolves once every event pushed so far has been matched and its
   * failures recorded (the pipeline's flush). When given, a cursor is saved
   * only after the events before it were counted, so the state database,
   * which writes failures and cursors in one transaction, never holds a
   * cursor ahead of the failures: a kill -9 then loses no entry.
   */
  settled?: () => Promise<void>;
  /** How often the cursor is saved while entries flow, ms (default 500). */
  saveIntervalMs?: number;
  /** Longest line of journalctl output accepted, bytes (default 4 MiB); longer entries are skipped and counted. */
  maxEntryBytes?: number;
  /** First delay before restarting journalctl, ms (default 250); it doubles up to restartMaxMs (default 30 s). */
  restartBaseMs?: number;
  restartMaxMs?: number;
}

export interface JournalFollowerState {
  /** The follower is on: start() found a journal to follow and stop() was not called. */
  enabled: boolean;
  /** journalctl is running now. */
  running: boolean;
  /** The pid of the current journalctl (set as soon as it is spawned). */
  pid?: number;
  /** What is followed, in words ("journal directory /var/log/journal/remote"). */
  source: string;
  /** Times journalctl ended on its own (or could not start) and was started again. */
  restarts: number;
  /** How the last journalctl ended: "exit status 1", "killed by SIGKILL", "could not start: ENOENT". */
  lastExit?: string;
  /** The last line it wrote on stderr before that. */
  lastStderr?: string;
  /** Entries handed to the filters. */
  entries: number;
  /** Lines that were no usable entry: no MESSAGE, not JSON, or longer than maxEntryBytes. */
  skipped: number;
  /** Reading is paused because the pipeline is full. */
  paused: boolean;
  /** Cursor of the last handled entry. */
  cursor?: string;
  /** Cursor last given to the cursor store. */
  savedCursor?: string;
}

/** A journalctl run with `-f` never ends by itself; one that ran this long was healthy. */
const HEALTHY_RUN_MS = 10_000;

/**
 * Follows a systemd journal with `journalctl -f -o json` and hands each
 * entry, as a LogEvent, to the pipeline.
 *
 * Filtering: the jails' journalmatch terms go to journalctl, so the
 * journal's own indexes skip unrelated entries; fleetban never parses them.
 *
 * Exactly once across restarts: journalctl -f keeps no cursor, so the
 * follower remembers the `__CURSOR` of the last entry it handed to the sink
 * and starts every journalctl after it (`--cursor`, dropping that entry: see followArgs).
 * - journalctl dies or is killed: the next one starts after the last entry
 *   handled (in memory): nothing lost, nothing repeated. Output the dead one
 *   wrote and fleetban had not read yet is read again from the new one.
 * - fleetban stops (stop(), reload): the cursor of the last handled entry
 *   is saved: the next start repeats nothing.
 * - fleetban is killed (SIGKILL, power loss): the cursor is saved every
 *   `saveIntervalMs`, not per entry (a 100,000-entry burst must not mean
 *   100,000 writes), so the entries handled after the last save are handled
 *   again: at most about saveIntervalMs of entries (plus the time the
 *   pipeline takes to settle). None is lost, given `settled`.
 *
 * Backpressure: when `sink.push` returns false the follower stops reading
 * journalctl's stdout (the pipe fills and journalctl waits) until the sink
 * drains; memory stays at one pipe chunk plus at most one entry.
 */
export class JournalFollower {
  private matches: string[][];
  private readonly journalctl: string;
  private readonly saveIntervalMs: number;
  private readonly maxEntryBytes: number;
  private readonly backoff: Backoff;
  private readonly log: Logger;

  private active = false;
  private child: ResultPromise | undefined;
  /** Loaded by start(), before the first spawn (see journalctl-runner.ts). */
  private execa: typeof Execa | undefined;
  private childRunning = false;
  private childExited = false;
  private childStartedAt = 0;
  private splitter: LineSplitter;
  private oversizeSeen = 0;
  private paused = false;
  private first: StartPosition = { kind: 'head' };
  private lastCursor: string | undefined;
  /** journalctl starts AT this cursor (see followArgs): its first line is dropped when it is that entry. */
  private startCursor: string | undefined;
  private savedCursor: string | undefined;
  private saving: Promise<void> | undefined;
  private saveTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;

  private restarts = 0;
  private lastExit: string | undefined;
  private lastStderr: string | undefined;
  private entries = 0;
  private skipped = 0;

  constructor(
    private readonly cfg: JournalConfig,
    private readonly sink: EventSink,
    private readonly opts: JournalFollowerOptions,
  ) {
    this.matches = normalizeMatches(opts.matches);
    this.journalctl = opts.journalctl ?? 'journalctl';
    this.saveIntervalMs = opts.saveIntervalMs ?? 500;
    this.maxEntryBytes = opts.maxEntryBytes ?? 4 * 1024 * 1024;
    this.backoff = new Backoff(opts.restartBaseMs ?? 250, opts.restartMaxMs ?? 30_000);
    this.log = opts.logger.child({ component: 'journal' });
    this.splitter = new LineSplitter(this.maxEntryBytes);
    // Registered once: the pipeline keeps its drain listeners for ever.
    sink.onDrain(() => this.drained());
  }

  /**
   * Looks at the journal and starts following it. `enabled = yes` and a
   * journal that cannot be read rejects with a message that says why;
   * `auto` logs a warning and leaves the follower off; `no` does nothing.
   */
  async start(): Promise<void> {
    if (this.active) return;
    const where = describeSource(this.cfg);
    if (this.cfg.enabled === 'no') {
      this.log.info('journal source disabled ([journal] enabled = no)');
      return;
    }
    this.execa = await journalctlRunner();
    const probe = await probeJournal(this.journalctl, this.cfg);
    const off = (why: string): void => {
      if (this.cfg.enabled === 'yes') throw new Error(`[journal] enabled = yes, but the ${where} cannot be followed: ${why}`);
      this.log.warn({ reason: why }, `journal source off: the ${where} cannot be followed ([journal] enabled = auto)`);
    };
    let tail: string | undefined;
    switch (probe.kind) {
      case 'no-journalctl':
        return off(`journalctl cannot be run (${probe.detail})`);
      case 'unreadable':
        return off(probe.detail);
      case 'no-files':
        // A journal-remote folder is empty until the first mail server uploads; journalctl -f sees files appear.
        if (!this.cfg.directory) return off(`${probe.detail} (is systemd-journald running and storing its journal?)`);
        this.log.warn({ directory: this.cfg.directory }, 'no journal files yet; following the folder for new ones');
        break;
      case 'ok':
        tail = probe.tail;
        break;
    }
    this.first = this.firstPosition(tail);
    this.active = true;
    this.log.info({ source: where, from: describePosition(this.first), matches: this.matches.map((g) => g.join(' ')) }, 'following the journal');
    this.spawn();
    this.saveTimer = setInterval(() => void this.saveCursor(), this.saveIntervalMs);
    this.saveTimer.unref();
  }

  /** Stops journalctl and saves the cursor of the last handled entry. */
  async stop(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    clearInterval(this.saveTimer);
    clearTimeout(this.restartTimer);
    this.saveTimer = undefined;
    this.restartTimer = undefined;
    await this.endChild();
    await this.saving;
    await this.saveCursor();
    this.log.info({ cursor: this.lastCursor, entries: this.entries }, 'journal follower stopped');
  }

  /** Reload: when the matches changed, restart journalctl with them, after the last handled entry. */
  async updateMatches(matches: string[][]): Promise<void> {
    const next = normalizeMatches(matches);
    matchArgs(next); // refuse bad terms before stopping the running journalctl
    if (sameMatches(next, this.matches)) return;
    this.matches = next;
    if (!this.active) return;
    this.log.info({ matches: next.map((g) => g.join(' ')) }, 'journal matches changed; restarting journalctl');
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    await this.endChild();
    if (this.active && !this.child) this.spawn();
  }

  state(): JournalFollowerState {
    return {
      enabled: this.active,
      running: this.childRunning,
      pid: this.child?.pid,
      source: describeSource(this.cfg),
      restarts: this.restarts,
      lastExit: this.lastExit,
      lastStderr: this.lastStderr,
      entries: this.entries,
      skipped: this.skipped + this.oversizeSeen,
      paused: this.paused,
      cursor: this.lastCursor,
      savedCursor: this.savedCursor,
    };
  }

  // ---- where to start ---------------------------------------------------

  private firstPosition(tail: string | undefined): StartPosition {
    const saved = this.opts.cursors.load();
    if (saved !== undefined) {
      if (isCursor(saved)) {
        this.lastCursor = saved;
        this.savedCursor = saved;
        return { kind: 'after-cursor', cursor: saved };
      }
      this.log.warn({ cursor: saved.slice(0, 100) }, 'the saved journal cursor is not a journalctl cursor; ignoring it');
    }
    if (this.cfg.sinceSeconds > 0) return { kind: 'since', ms: Date.now() - this.cfg.sinceSeconds * 1000 };
    // From now: after the entry that was last when we looked, so nothing written since is missed.
    if (tail !== undefined && isCursor(tail)) return { kind: 'after-cursor', cursor: tail };
    // The journal had no entry: everything it will hold is new.
    return { kind: 'head' };
  }

  private position(): StartPosition {
    return this.lastCursor !== undefined ? { kind: 'after-cursor', cursor: this.lastCursor } : this.first;
  }

  // ---- journalctl -----------------------------------------------------------

  private spawn(): void {
    const pos = this.position();
    const args = followArgs(this.cfg, pos, this.matches);
    this.startCursor = pos.kind === 'after-cursor' ? pos.cursor : undefined;
    const child = this.execa!(this.journalctl, args, {
      buffer: false,
      encoding: 'buffer',
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      reject: false,
      cleanup: true,
      forceKillAfterDelay: 2000,
    });
    this.child = child;
    this.childRunning = false;
    this.childExited = false;
    this.childStartedAt = Date.now();
    this.splitter = new LineSplitter(this.maxEntryBytes);
    this.paused = false;
    let stderrTail = '';
    child.on('spawn', () => {
      if (this.child === child) this.childRunning = true;
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      if (this.child !== child) return;
      this.splitter.feed(chunk);
      this.pump();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-4096);
    });
    child.on('exit', () => {
      if (this.child === child) {
        this.childRunning = false;
        this.childExited = true;
      }
      // Output not read yet is read again by the next journalctl, from the cursor.
      if (this.paused || this.child !== child) child.stdout?.destroy();
    });
    void child.then(
      (r) => this.exited(child, describeExit(r), lastLine(stderrTail)),
      (err: unknown) => this.exited(child, `failed: ${(err as Error).message}`, lastLine(stderrTail)),
    );
  }

  /** Ends the current journalctl (if any) and waits for it; its exit is not a crash. */
  private async endChild(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    this.childRunning = false;
    this.paused = false;
    child.stdout?.destroy();
    child.kill('SIGTERM');
    await child.then(
      () => undefined,
      () => undefined,
    );
  }

  private exited(child: ResultPromise, how: string, stderr: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.childRunning = false;
    if (!this.active) return;
    this.restarts++;
    this.lastExit = how;
    this.lastStderr = stderr || undefined;
    if (Date.now() - this.childStartedAt >= HEALTHY_RUN_MS) this.backoff.reset();
    if (/Failed to seek to cursor/.test(stderr) && this.lastCursor !== undefined) {
      // Only a malformed cursor makes journalctl fail here; a stale one it seeks near. Nothing better is known.
      this.log.error({ cursor: this.lastCursor }, 'journalctl refused the cursor; following from now on');
      this.lastCursor = undefined;
      this.first = { kind: 'since', ms: Date.now() };
    }
    const delay = this.backoff.next();
    this.log.warn({ exit: how, stderr: stderr || undefined, restartInMs: delay, restarts: this.restarts }, 'journalctl ended; restarting it');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.active && !this.child) this.spawn();
    }, delay);
  }

  // ---- reading --------------------------------------------------------------

  /** Handles complete lines until none is left or the pipeline asks to wait. */
  private pump(): void {
    const sp = this.splitter;
    while (!this.paused) {
      const line = sp.next();
      if (line === undefined) break;
      this.handle(line);
    }
    if (sp.oversize !== 0) {
      this.oversizeSeen += sp.oversize;
      this.log.warn({ count: sp.oversize, maxEntryBytes: this.maxEntryBytes }, 'journal entries longer than the limit skipped');
      sp.oversize = 0;
    }
    const out = this.child?.stdout;
    if (!out) return;
    if (this.paused) {
      if (this.childExited) out.destroy();
      else out.pause();
    }
  }

  private handle(line: Buffer): void {
    let entry: unknown;
    try {
      entry = JSON.parse(line.toString('utf8'));
    } catch {
      this.skipped++;
      return;
    }
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      this.skipped++;
      return;
    }
    const e = entry as Record<string, unknown>;
    const cursor = entryCursor(e);
    if (this.startCursor !== undefined) {
      const start = this.startCursor;
      this.startCursor = undefined;
      // The entry handled last (or the tail looked at on a first start): already seen.
      if (cursor !== undefined && sameEntry(cursor, start)) return;
    }
    const events = entryEvents(e, Date.now(), this.opts.originOf);
    if (events.length === 0) this.skipped++;
    else {
      for (const ev of events) if (!this.sink.push(ev)) this.paused = true;
      this.entries++;
    }
    // Handled (or deliberately skipped): a restart starts after it.
    if (cursor !== undefined) this.lastCursor = cursor;
  }

  private drained(): void {
    if (!this.paused) return;
    this.paused = false;
    this.pump();
    if (!this.paused) this.child?.stdout?.resume();
  }

  // ---- cursor -----------------------------------------------------------

  /** Saves the last handled cursor once the events before it settled; one save at a time. */
  private saveCursor(): Promise<void> {
    if (this.saving) return this.saving;
    const cursor = this.lastCursor;
    if (cursor === undefined || cursor === this.savedCursor) return Promise.resolve();
    this.saving = (async () => {
      try {
        if (this.opts.settled) await this.opts.settled();
        this.opts.cursors.save(cursor);
        this.savedCursor = cursor;
      } catch (err) {
        this.log.error({ err }, 'saving the journal cursor failed');
      } finally {
        this.saving = undefined;
      }
    })();
    return this.saving;
  }
}

function describeExit(r: { exitCode?: number; signal?: string; failed: boolean; shortMessage?: string }): string {
  if (r.signal) return `killed by ${r.signal}`;
  if (r.exitCode !== undefined) return `exit status ${r.exitCode}`;
  const code = (r as { code?: unknown }).code;
  return `could not start: ${typeof code === 'string' ? code : r.shortMessage ?? 'unknown error'}`;
}

function describePosition(p: StartPosition): string {
  if (p.kind === 'after-cursor') return `after cursor ${p.cursor}`;
  if (p.kind === 'since') return `since ${new Date(p.ms).toISOString()}`;
  return 'the first entry';
}

function normalizeMatches(matches: string[][]): string[][] {
  return matches.filter((g) => g.length > 0).map((g) => [...g]);
}

function sameMatches(a: string[][], b: string[][]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.length !== y.length || x.some((t, j) => t !== y[j])) return false;
  }
  return true;
}
