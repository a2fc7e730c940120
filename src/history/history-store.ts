import Database from 'better-sqlite3';
import { openSqliteFile } from '../state/sqlite-file.js';
import { migrateHistory } from './history-schema.js';

/** Counts by name (jail, mail server, user name). */
export type Tally = Record<string, number>;

/** What the attackers' view shows of one address. Times in ms since the epoch. */
export interface AttackerRecord {
  ip: string;
  first: number;
  last: number;
  failures: number;
  jails: Tally;
  /** Mail servers (origins) the failures were logged on. */
  origins: Tally;
  /** User names tried; never a password. */
  users: Tally;
}

/** A matched line, passwords removed by the filter before it got here. */
export interface LineRecord {
  ip: string;
  time: number;
  jail: string;
  origin: string;
  user: string | null;
  line: string;
}

export interface EventRecord {
  ip: string;
  time: number;
  jail: string;
  kind: 'ban' | 'unban';
  /** ban: `until` (ms or null), count, manual; unban: reason. */
  detail: Record<string, unknown>;
}

/** Per-minute values of the series under one prefix, bucketed by `step` minutes. */
export interface SeriesResult {
  /** First minute of each bucket (ms since the epoch / 60000). */
  minutes: number[];
  series: { name: string; values: number[] }[];
}

/** Most names kept per tally: an attacker trying a dictionary of user names must not grow a row without end. */
export const MAX_TALLY = 50;
/** Lines kept per address. */
export const LINES_PER_IP = 20;

interface AttackerRow {
  ip: string;
  first: number;
  last: number;
  failures: number;
  jails: string;
  origins: string;
  users: string;
}

/**
 * The history in SQLite: per-minute counters, attackers, their lines and
 * ban events, in its own tables (history-schema.ts) and on its own
 * connection, so it never holds up the ban store. Each node of a cluster
 * keeps its own: it is what this node saw.
 *
 * Size is bounded: everything older than the retention is purged, the
 * attackers table is cut to `maxAttackers` (oldest last seen first), tallies
 * to MAX_TALLY names and lines to LINES_PER_IP per address.
 */
export class HistoryStore {
  readonly db: Database.Database;
  private readonly stmt;
  private readonly writeMinuteTx: (minute: number, values: Iterable<[string, number]>) => void;
  private readonly mergeTx: (attackers: AttackerRecord[], lines: LineRecord[], events: EventRecord[]) => void;

  private constructor(
    readonly file: string,
    readonly maxAttackers: number,
  ) {
    this.db = openSqliteFile(file, migrateHistory);
    const db = this.db;
    this.stmt = {
      addMinute: db.prepare(
        'INSERT INTO history_minute (series, minute, value) VALUES (?, ?, ?) ON CONFLICT (series, minute) DO UPDATE SET value = value + excluded.value',
      ),
      // One series at a time, so the primary key (series, minute) bounds the minutes read too:
      // a prefix range over the series bounds only the names, and read all 14 days of each
      // for the last hour (60,000 rows for 180 with three jails).
      nextSeries: db.prepare<[string, string], { series: string }>(
        'SELECT series FROM history_minute WHERE series > ? AND series < ? ORDER BY series LIMIT 1',
      ),
      series: db.prepare<[number, number, string, number, number], { bucket: number; value: number }>(
        'SELECT (minute / CAST(? AS INTEGER)) * CAST(? AS INTEGER) AS bucket, SUM(value) AS value FROM history_minute WHERE series = ? AND minute >= ? AND minute < ? GROUP BY bucket',
      ),
      lastMinute: db.prepare<[string], { minute: number | null }>('SELECT MAX(minute) AS minute FROM history_minute WHERE series = ?'),
      getAttacker: db.prepare<[string], AttackerRow>('SELECT * FROM history_attacker WHERE ip = ?'),
      putAttacker: db.prepare(
        'INSERT OR REPLACE INTO history_attacker (ip, first, last, failures, jails, origins, users) VALUES (@ip, @first, @last, @failures, @jails, @origins, @users)',
      ),
      top: db.prepare<[number], AttackerRow>('SELECT * FROM history_attacker ORDER BY failures DESC, last DESC LIMIT ?'),
      all: db.prepare<[], AttackerRow>('SELECT * FROM history_attacker ORDER BY failures DESC, last DESC'),
      attackerCount: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM history_attacker'),
      addLine: db.prepare('INSERT INTO history_line (ip, time, jail, origin, user, line) VALUES (@ip, @time, @jail, @origin, @user, @line)'),
      trimLines: db.prepare(
        'DELETE FROM history_line WHERE ip = ? AND rowid NOT IN (SELECT rowid FROM history_line WHERE ip = ? ORDER BY time DESC, rowid DESC LIMIT ?)',
      ),
      lines: db.prepare<[string, number], LineRecord>('SELECT ip, time, jail, origin, user, line FROM history_line WHERE ip = ? ORDER BY time DESC, rowid DESC LIMIT ?'),
      addEvent: db.prepare('INSERT INTO history_event (ip, time, jail, kind, detail) VALUES (?, ?, ?, ?, ?)'),
      events: db.prepare<[string], { ip: string; time: number; jail: string; kind: 'ban' | 'unban'; detail: string }>(
        'SELECT ip, time, jail, kind, detail FROM history_event WHERE ip = ? ORDER BY time DESC, rowid DESC LIMIT 200',
      ),
      purgeMinutes: db.prepare('DELETE FROM history_minute WHERE minute < ?'),
      purgeAttackers: db.prepare('DELETE FROM history_attacker WHERE last < ?'),
      purgeLines: db.prepare('DELETE FROM history_line WHERE time < ?'),
      purgeEvents: db.prepare('DELETE FROM history_event WHERE time < ?'),
      cutAttackers: db.prepare(
        'DELETE FROM history_attacker WHERE ip IN (SELECT ip FROM history_attacker ORDER BY last ASC LIMIT ?)',
      ),
    };
    this.writeMinuteTx = db.transaction((minute: number, values: Iterable<[string, number]>) => {
      for (const [series, value] of values) if (value !== 0) this.stmt.addMinute.run(series, minute, value);
    });
    this.mergeTx = db.transaction((attackers: AttackerRecord[], lines: LineRecord[], events: EventRecord[]) => {
      for (const a of attackers) {
        const old = this.stmt.getAttacker.get(a.ip);
        const merged = old ? mergeAttacker(fromRow(old), a) : a;
        this.stmt.putAttacker.run(toRow(merged));
      }
      const touched = new Set<string>();
      for (const l of lines) {
        this.stmt.addLine.run(l);
        touched.add(l.ip);
      }
      for (const ip of touched) this.stmt.trimLines.run(ip, ip, LINES_PER_IP);
      for (const e of events) this.stmt.addEvent.run(e.ip, e.time, e.jail, e.kind, JSON.stringify(e.detail));
    });
  }

  static open(file: string, o: { maxAttackers?: number } = {}): HistoryStore {
    return new HistoryStore(file, o.maxAttackers ?? 100_000);
  }

  /** Add one minute's values (counter increments) to the series named. */
  addMinute(minute: number, values: Iterable<[string, number]>): void {
    this.writeMinuteTx(minute, values);
  }

  /** Add what the attackers did since the last call, in one transaction. */
  merge(attackers: AttackerRecord[], lines: LineRecord[], events: EventRecord[]): void {
    if (attackers.length + lines.length + events.length > 0) this.mergeTx(attackers, lines, events);
  }

  /**
   * The series whose names start with `prefix` between two minutes
   * (`from` included, `to` not), summed into buckets of `step` minutes.
   * Names come back without the prefix.
   */
  series(prefix: string, from: number, to: number, step: number): SeriesResult {
    step = Math.max(1, Math.floor(step));
    const start = Math.floor(from / step) * step;
    const minutes: number[] = [];
    for (let m = start; m < to; m += step) minutes.push(m);
    const byName = new Map<string, number[]>();
    for (const series of this.seriesNames(prefix)) {
      let v: number[] | undefined;
      for (const r of this.stmt.series.iterate(step, step, series, start, to)) {
        v ??= new Array<number>(minutes.length).fill(0);
        const i = (r.bucket - start) / step;
        if (i >= 0 && i < v.length) v[i]! += r.value;
      }
      if (v) byName.set(series.slice(prefix.length), v);
    }
    return { minutes, series: [...byName].sort(([a], [b]) => a.localeCompare(b)).map(([name, values]) => ({ name, values })) };
  }

  /** The names of the series under `prefix`, one index step each (a skip scan). */
  private *seriesNames(prefix: string): Generator<string> {
    const end = prefix + '\uffff';
    let after = prefix;
    for (;;) {
      const next = this.stmt.nextSeries.get(after, end)?.series;
      if (next === undefined) return;
      yield next;
      after = next;
    }
  }

  /** The last minute with something in it, per series under `prefix` (names without the prefix). */
  lastMinutes(prefix: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const series of this.seriesNames(prefix)) {
      const minute = this.stmt.lastMinute.get(series)?.minute;
      if (minute !== null && minute !== undefined) out.set(series.slice(prefix.length), minute);
    }
    return out;
  }

  /** The addresses with the most failures; `match` filters them (an address or a network). */
  attackers(limit: number, match?: (ip: string) => boolean): AttackerRecord[] {
    if (!match) return this.stmt.top.all(limit).map(fromRow);
    const out: AttackerRecord[] = [];
    for (const r of this.stmt.all.iterate()) {
      if (!match(r.ip)) continue;
      out.push(fromRow(r));
      if (out.length >= limit) break;
    }
    return out;
  }

  attackerCount(): number {
    return this.stmt.attackerCount.get()!.n;
  }

  attacker(ip: string): { attacker: AttackerRecord | null; lines: LineRecord[]; events: EventRecord[] } {
    const row = this.stmt.getAttacker.get(ip);
    return {
      attacker: row ? fromRow(row) : null,
      lines: this.stmt.lines.all(ip, LINES_PER_IP),
      events: this.stmt.events.all(ip).map((e) => ({ ...e, detail: JSON.parse(e.detail) as Record<string, unknown> })),
    };
  }

  /** Forget what is older than `before` (ms) and the attackers beyond the cap. */
  purge(before: number): void {
    this.db.transaction(() => {
      this.stmt.purgeMinutes.run(Math.floor(before / 60_000));
      this.stmt.purgeAttackers.run(before);
      this.stmt.purgeLines.run(before);
      this.stmt.purgeEvents.run(before);
      const over = this.attackerCount() - this.maxAttackers;
      if (over > 0) this.stmt.cutAttackers.run(over);
    })();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** Add `b` into `a`'s tallies, keeping the MAX_TALLY biggest names of each. */
export function mergeAttacker(a: AttackerRecord, b: AttackerRecord): AttackerRecord {
  return {
    ip: a.ip,
    first: Math.min(a.first, b.first),
    last: Math.max(a.last, b.last),
    failures: a.failures + b.failures,
    jails: addTally(a.jails, b.jails),
    origins: addTally(a.origins, b.origins),
    users: addTally(a.users, b.users),
  };
}

export function addTally(a: Tally, b: Tally): Tally {
  const out: Tally = { ...a };
  for (const [k, n] of Object.entries(b)) out[k] = (out[k] ?? 0) + n;
  const keys = Object.keys(out);
  if (keys.length <= MAX_TALLY) return out;
  return Object.fromEntries(
    Object.entries(out)
      .sort(([, x], [, y]) => y - x)
      .slice(0, MAX_TALLY),
  );
}

function fromRow(r: AttackerRow): AttackerRecord {
  return {
    ip: r.ip,
    first: r.first,
    last: r.last,
    failures: r.failures,
    jails: JSON.parse(r.jails) as Tally,
    origins: JSON.parse(r.origins) as Tally,
    users: JSON.parse(r.users) as Tally,
  };
}

function toRow(a: AttackerRecord): AttackerRow {
  return { ...a, jails: JSON.stringify(a.jails), origins: JSON.stringify(a.origins), users: JSON.stringify(a.users) };
}
