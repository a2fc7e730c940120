import type { Logger } from 'pino';
import { scrubPasswords } from '../filters/password-scrub.js';
import type { JailMatch } from '../jails/filter-match.js';
import type { Ban } from '../bans/ban.js';
import type { LogEvent } from '../model/log-event.js';
import { HistoryStore, type AttackerRecord, type EventRecord, type LineRecord, type SeriesResult } from './history-store.js';
import { MinuteSampler } from './minute-sampler.js';

export interface HistoryOptions {
  /** The SQLite file: the state database (the history keeps to tables of its own). */
  file: string;
  /** How long minutes, attackers and lines are kept, ms (at least 14 days by default). */
  retentionMs: number;
  /** The service's cumulative counters by series name (see counter-series.ts). */
  counters: () => Map<string, number>;
  logger?: Logger;
  /** How often counters are read and attackers written, ms (default 5000). */
  tickMs?: number;
  maxAttackers?: number;
  now?: () => number;
}

/** Addresses waiting to be written at most; past it, new addresses wait for the next write (their failures are still counted by the jails). */
const MAX_PENDING_IPS = 20_000;
const MAX_PENDING_LINES = 5_000;

/**
 * What the status page plots and lists, kept per node in the state
 * database: per-minute counters (failures and bans per jail, messages per
 * listener and per sender), every attacker with the jails, mail servers and
 * user names it tried, its last matched lines and its bans.
 *
 * The match path only adds to maps in memory (onMatch); everything is
 * written in one transaction every few seconds, off that path.
 */
export class History {
  readonly store: HistoryStore;
  private readonly sampler: MinuteSampler;
  private readonly now: () => number;
  private pending = new Map<string, AttackerRecord>();
  private lines: LineRecord[] = [];
  private events: EventRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastPurge = 0;

  constructor(private readonly o: HistoryOptions) {
    this.now = o.now ?? Date.now;
    this.store = HistoryStore.open(o.file, { maxAttackers: o.maxAttackers });
    this.sampler = new MinuteSampler(o.counters, (minute, values) => this.store.addMinute(minute, values), this.now);
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.o.tickMs ?? 5000);
    this.timer.unref();
  }

  /** A failure a jail counted. Cheap: the line is kept as the filter gave it (passwords already removed). */
  onMatch(jail: string, m: JailMatch, ev: LogEvent): void {
    const time = Number.isFinite(m.time) ? m.time : ev.received;
    const user = m.fields.user ?? m.fields.USER ?? null;
    let a = this.pending.get(m.ip);
    if (!a) {
      if (this.pending.size >= MAX_PENDING_IPS) return;
      a = { ip: m.ip, first: time, last: time, failures: 0, jails: {}, origins: {}, users: {} };
      this.pending.set(m.ip, a);
    }
    a.failures++;
    if (time < a.first) a.first = time;
    if (time > a.last) a.last = time;
    a.jails[jail] = (a.jails[jail] ?? 0) + 1;
    a.origins[ev.origin] = (a.origins[ev.origin] ?? 0) + 1;
    if (user !== null && user !== '') a.users[user] = (a.users[user] ?? 0) + 1;
    if (this.lines.length < MAX_PENDING_LINES) this.lines.push({ ip: m.ip, time, jail, origin: ev.origin, user, line: m.line });
  }

  onBan(d: Ban): void {
    this.events.push({ ip: d.ip, time: d.since, jail: d.jail, kind: 'ban', detail: { until: d.until, count: d.count, failures: d.failures, manual: d.manual } });
  }

  onUnban(jail: string, ip: string, reason: string): void {
    this.events.push({ ip, time: this.now(), jail, kind: 'unban', detail: { reason } });
  }

  /** Read the counters, write what is pending, and purge once an hour. */
  tick(): void {
    try {
      this.sampler.tick();
      this.write();
      const now = this.now();
      if (now - this.lastPurge > 3_600_000) {
        this.lastPurge = now;
        this.store.purge(now - this.o.retentionMs);
      }
    } catch (err) {
      this.o.logger?.error({ err: (err as Error).message }, 'writing the history failed');
    }
  }

  private write(): void {
    const attackers = [...this.pending.values()];
    // The filter removed passwords already; scrub again so no path into the history can skip it.
    const lines = this.lines.map((l) => ({ ...l, line: scrubPasswords(l.line) }));
    const events = this.events;
    this.pending = new Map();
    this.lines = [];
    this.events = [];
    this.store.merge(attackers, lines, events);
  }

  /**
   * Series under `prefix` for the minutes [from, to), bucketed by `step`,
   * with the unfinished minute counted from the live counters.
   */
  series(prefix: string, from: number, to: number, step: number): SeriesResult {
    const r = this.store.series(prefix, from, to, step);
    const cur = this.sampler.current();
    if (r.minutes.length === 0) return r;
    const i = Math.floor((cur.minute - r.minutes[0]!) / Math.max(1, Math.floor(step)));
    if (cur.minute < from || cur.minute >= to || i < 0 || i >= r.minutes.length) return r;
    const byName = new Map(r.series.map((s) => [s.name, s]));
    for (const [k, v] of cur.values) {
      if (!k.startsWith(prefix)) continue;
      const name = k.slice(prefix.length);
      let s = byName.get(name);
      if (!s) {
        s = { name, values: new Array<number>(r.minutes.length).fill(0) };
        byName.set(name, s);
        r.series.push(s);
      }
      s.values[i]! += v;
    }
    r.series.sort((a, b) => a.name.localeCompare(b.name));
    return r;
  }

  /** When each counter under `prefix` last went up: seen live since start, else the last minute stored. */
  lastChanges(prefix: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const [k, m] of this.store.lastMinutes(prefix)) out.set(k, m * 60_000 + 59_999);
    for (const [k, t] of this.sampler.lastChanges(prefix)) out.set(k, t);
    return out;
  }

  /** The addresses with most failures, what is pending included. */
  attackers(limit: number, match?: (ip: string) => boolean): AttackerRecord[] {
    this.write();
    return this.store.attackers(limit, match);
  }

  attacker(ip: string): ReturnType<HistoryStore['attacker']> {
    this.write();
    return this.store.attacker(ip);
  }

  /** Write everything, the unfinished minute too, and close the database. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    try {
      this.sampler.flush();
      this.write();
    } finally {
      this.store.close();
    }
  }
}

