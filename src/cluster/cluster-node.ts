import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { ControlHandler, ControlServer } from '../control/control-server.js';
import type { Ban } from '../bans/ban.js';
import type { JailMatch } from '../jails/filter-match.js';
import type { LogEvent } from '../model/log-event.js';
import type { HistoryRecord } from '../state/state-store.js';
import { adoptHandover, collectHandover, type HandedBan, mergeIntoPg } from './ban-handover.js';
import { ChangeLog, importState, writeChanges } from './change-log.js';
import { FailureOutbox, type WireFailure } from './failure-outbox.js';
import { FencedError, LeaderLease, fenced } from './leader-lease.js';
import { PgConnection } from './pg-connection.js';
import { migratePg } from './pg-schema.js';
import { RELAYED_VERBS, RequestRelay } from './request-relay.js';
import { parseStateUrl, redactUrl, statePassword } from './state-url.js';

/** `[state]` of fleetban.conf when backend = postgresql. */
export interface ClusterConfig {
  url: string;
  /** This node's name (default: the host name). */
  node: string;
  passwordFile?: string;
  /** How long the leader's lease lasts without renewal, ms (default 3000). */
  leaseMs: number;
  /**
   * After how long without PostgreSQL a node protects its own senders
   * alone (decides and pushes bans for the failures it received itself), ms;
   * 0: never (it keeps its failures and waits).
   */
  standaloneMs: number;
}

/** What the cluster needs of the service it runs in. */
export interface ClusterEngine {
  /** The local SQLite state the engine writes (bans, ban_history, ledger, fleet_host). */
  db: Database.Database;
  /** Start the jails and the fleet (once, when this node first leads). */
  startEngine(): Promise<void>;
  /** Count one failure in the local jails. */
  count(jail: string, match: JailMatch, ev: LogEvent): void;
  /** The longest findtime of the jails, ms: how far back a new leader reads failures. */
  maxFindTimeMs(): number;
  /** Compare every host with what it should have and send what is missing. */
  reconcile(): void;
  /**
   * Commit and announce a ban another node decided while it stood alone
   * (the leader takes it over); false when the state already held one.
   */
  adopt(ban: Ban, history: HistoryRecord): Promise<boolean>;
}

export type Role = 'follower' | 'starting' | 'leader';

export interface ClusterStatus {
  node: string;
  role: Role;
  /** The leader as last seen in the database. */
  leader: string | null;
  epoch: number | null;
  /** The database cannot be reached (or the last write to it failed): decisions wait locally. */
  degraded: boolean;
  /**
   * The database has been away for longer than standalone_after: this node
   * decides and pushes the bans of the failures it receives itself.
   */
  standalone: boolean;
  lastError: string | null;
  /** Failures of this node written to PostgreSQL, waiting, dropped. */
  forwarded: number;
  backlog: number;
  lagMs: number;
  dropped: number;
  /** Local changes (bans, ledger) not yet in PostgreSQL (the leader). */
  unreplicated: number;
}

/** `fleetban nodes --json`: one entry per node. */
export interface NodeJson {
  name: string;
  role: 'leader' | 'follower';
  /** Last heartbeat, ISO-8601 (the database's clock). */
  lastSeen: string;
  /** Seconds since the last heartbeat. */
  age: number;
  alive: boolean;
  degraded: boolean;
  started: string;
  failuresForwarded: number;
  /** Failures waiting at the node, and the age of the oldest, ms. */
  backlog: number;
  lagMs: number;
  epoch: number | null;
}

export interface ClusterNodeOptions {
  config: ClusterConfig;
  engine: ClusterEngine;
  logger: Logger;
  /**
   * The node learnt that another node leads in its place (it was frozen,
   * or cut off): it must not push anything more. Default: log and exit 75,
   * so the service manager starts it again, as a follower.
   */
  onFenced?: (reason: string) => void;
}

/** Longest line kept per forwarded failure (the ban's matches show it; the rest is noise). */
const MAX_LINE = 1000;
const PURGE_EVERY_MS = 30_000;

/**
 * This node's part in a cluster of fleetban hosts sharing one PostgreSQL.
 *
 * Every node receives logs and matches its filters; every failure goes to
 * PostgreSQL (FailureOutbox). One node, the leader (LeaderLease), counts
 * them all in its jails, decides bans, holds the SSH sessions and pushes;
 * its local state goes to PostgreSQL as it changes (ChangeLog), and the
 * fleet hears of a ban only once it is there, so a new leader knows every
 * ban that reached any host. A follower that takes over first reads the
 * whole state and the failures within findtime from PostgreSQL.
 */
export class ClusterNode {
  role: Role = 'follower';
  private readonly pg: PgConnection;
  private readonly lease: LeaderLease;
  private readonly outbox: FailureOutbox;
  private readonly relay: RequestRelay;
  private readonly changes: ChangeLog;
  private readonly log: Logger;
  private readonly node: string;
  private ready = false;
  private closed = false;
  private tickTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private replicateTimer: NodeJS.Timeout | undefined;
  private lastError: string | null = null;
  private degradedSince: number | null = null;
  private leaderSeen: { node: string | null; epoch: number } = { node: null, epoch: 0 };
  /** Failures this node saw while it was getting ready to lead. */
  private early: [WireFailure, JailMatch, LogEvent][] = [];
  /** The last seq read from each node's failures. */
  private readonly seen = new Map<string, number>();
  private fetching = false;
  private fetchAgain = false;
  private serving = false;
  private replicating: Promise<void> | undefined;
  private replicateAgain = false;
  private readonly afterWritten: (() => void)[] = [];
  private blockedPush = false;
  private lastPurge = 0;
  private readonly handlers = new Map<string, ControlHandler>();
  /** Standing alone through a long outage of PostgreSQL (see goAlone). */
  private standalone: 'no' | 'starting' | 'yes' = 'no';

  constructor(private readonly o: ClusterNodeOptions) {
    this.node = o.config.node;
    this.log = o.logger.child({ component: 'cluster', node: this.node });
    const url = parseStateUrl(o.config.url);
    this.pg = new PgConnection(url, statePassword(url, o.config.passwordFile), this.node, o.logger);
    this.lease = new LeaderLease(this.pg.lease, this.node, o.config.leaseMs);
    this.outbox = new FailureOutbox({
      pool: this.pg.work,
      node: this.node,
      onError: (err) => this.trouble('writing failures', err),
      onWritten: () => this.healthy(),
    });
    this.relay = new RequestRelay(this.pg.work, this.node);
    this.changes = new ChangeLog(o.engine.db);
    this.pg.listen('fleetban_failures', () => this.fetchSoon());
    this.pg.listen('fleetban_request', () => void this.serveRequests());
    this.pg.listen('fleetban_reply', (p) => this.relay.answered(p));
    // Bans a node decided while it stood alone, handed to the leader when the database is back.
    this.handlers.set('adopt', (args) => this.adopt(args));
    this.pg.onListening = () => {
      this.fetchSoon();
      void this.serveRequests();
    };
  }

  get isLeader(): boolean {
    return this.role === 'leader';
  }

  // ---- life cycle ------------------------------------------------------

  /**
   * Start: connect, migrate, and begin the heartbeat and the lease. Never
   * fails because the database is away: the node starts degraded, receives
   * and keeps its failures, and joins when the database answers.
   */
  async open(): Promise<void> {
    this.log.info({ url: redactUrl(this.o.config.url), leaseMs: this.o.config.leaseMs }, 'cluster node starting');
    await this.prepare();
    this.pg.startListening();
    await this.tick();
    this.pollTimer = setInterval(() => {
      this.fetchSoon();
      void this.serveRequests();
    }, 500);
    this.pollTimer.unref();
  }

  private async prepare(): Promise<boolean> {
    if (this.ready) return true;
    const c = await this.pg.work.connect().catch((err: unknown) => {
      this.trouble('connecting', err);
      return undefined;
    });
    if (!c) return false;
    try {
      await migratePg(c);
      this.ready = true;
      this.healthy();
      return true;
    } catch (err) {
      this.trouble('migrating the schema', err);
      return false;
    } finally {
      c.release();
    }
  }

  private scheduleTick(): void {
    if (this.closed) return;
    clearTimeout(this.tickTimer);
    this.tickTimer = setTimeout(() => void this.tick(), Math.max(100, Math.floor(this.o.config.leaseMs / 4)));
    this.tickTimer.unref();
  }

  /** Every quarter lease: renew or try to take the lease, and beat. */
  private async tick(): Promise<void> {
    try {
      await this.standAloneIfLong();
      if (!(await this.prepare())) return;
      if (this.role === 'follower' && this.standalone === 'yes') return await this.rejoin();
      if (this.role === 'follower') {
        const epoch = await this.lease.tryAcquire();
        if (epoch !== null) await this.takeOverOrGiveUp(epoch);
      } else {
        const wasValid = this.lease.valid();
        const still = await this.lease.renew();
        if (!still) {
          // Decisions of a leader that stood alone are not all in PostgreSQL: hand them to the new leader first.
          if (this.standalone === 'yes') await this.handBack().catch((err: unknown) => this.trouble('handing bans over', err));
          return this.fence('another node took the lease');
        }
        if (this.standalone === 'yes') {
          this.standalone = 'no';
          this.log.info('PostgreSQL reachable again and still leading: no longer standing alone');
        }
        if (!wasValid || this.blockedPush) {
          // Pushes were held while the lease was not to be trusted: send what waits.
          this.blockedPush = false;
          if (this.role === 'leader') this.o.engine.reconcile();
        }
      }
      await this.heartbeat();
      this.healthy();
      if (this.role === 'leader' && Date.now() - this.lastPurge > PURGE_EVERY_MS) await this.purge();
    } catch (err) {
      this.trouble(this.role === 'follower' ? 'taking part in the election' : 'renewing the lease', err);
    } finally {
      this.scheduleTick();
    }
  }

  private async heartbeat(): Promise<void> {
    const s = this.outbox.stats();
    const r = await this.pg.lease.query<{ node: string | null; epoch: string }>(
      `WITH beat AS (
         INSERT INTO nodes (name, started, heartbeat, role, degraded, failures_forwarded, backlog, lag_ms)
         VALUES ($1, now(), now(), $2, $3, $4, $5, $6)
         ON CONFLICT (name) DO UPDATE SET heartbeat = now(), role = excluded.role, degraded = excluded.degraded,
           failures_forwarded = excluded.failures_forwarded, backlog = excluded.backlog, lag_ms = excluded.lag_ms)
       SELECT node, epoch FROM leader WHERE id = 1`,
      [this.node, this.role === 'follower' ? 'follower' : 'leader', this.degradedSince !== null, s.forwarded, s.backlog, Math.min(s.lagMs, 2 ** 31 - 1)],
    );
    const row = r.rows[0];
    if (row) this.leaderSeen = { node: row.node, epoch: Number(row.epoch) };
  }

  private engineStarted = false;

  private async takeOverOrGiveUp(epoch: number): Promise<void> {
    try {
      await this.takeOver(epoch);
    } catch (err) {
      if (this.engineStarted) throw err;
      // Nothing was pushed yet: hand the lease back and try again later.
      this.role = 'follower';
      for (const [wire] of this.early.splice(0)) this.outbox.push(wire);
      await this.lease.release().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Lead: write out what this node still holds, read PostgreSQL's state
   * into the local one, start the jails and the fleet, count every failure
   * within findtime, then everything new.
   */
  private async takeOver(epoch: number): Promise<void> {
    this.role = 'starting';
    this.log.info({ epoch }, 'taking over as leader');
    await this.outbox.drained();
    const c = await this.pg.work.connect();
    let replay: WireFailure[] = [];
    try {
      const imported = await importState(c, this.o.engine.db, this.changes);
      const history = new Map<string, number>();
      for (const h of (await c.query<{ jail: string; ip: string; time: string }>('SELECT jail, ip, time FROM ban_history')).rows) {
        history.set(`${h.jail}\u0000${h.ip}`, Number(h.time));
      }
      const since = Date.now() - this.o.engine.maxFindTimeMs() - 60_000;
      const batches = await c.query<{ node: string; seq: string; events: WireFailure[] }>(
        'SELECT node, seq, events FROM failures WHERE newest >= $1 ORDER BY seq',
        [since],
      );
      for (const b of batches.rows) {
        this.seen.set(b.node, Math.max(this.seen.get(b.node) ?? 0, Number(b.seq)));
        for (const f of b.events) {
          const t = f[2] ?? f[3];
          const banned = history.get(`${f[0]}\u0000${f[1]}`);
          // Failures that led to a ban were forgotten by it (as fail2ban does).
          if (banned !== undefined && t <= banned) continue;
          replay.push(f);
        }
      }
      // A node that wrote nothing within findtime: any row of it within findtime is new.
      this.unknownSince = since;
      this.log.info({ epoch, ...imported, failures: replay.length }, 'state read from PostgreSQL');
    } finally {
      c.release();
    }
    this.engineStarted = true;
    await this.o.engine.startEngine();
    for (const f of replay) this.countWire(f);
    replay = [];
    for (const [wire, m, ev] of this.early.splice(0)) {
      this.outbox.push(wire);
      this.o.engine.count(wire[0], m, ev);
    }
    this.role = 'leader';
    this.log.info({ epoch }, 'leading');
    this.o.engine.reconcile();
    this.fetchSoon();
  }

  /** For nodes not read from yet: rows with failures newer than this are new. */
  private unknownSince = 0;

  /** This node must not lead any more. */
  private fence(reason: string): void {
    if (this.role === 'follower') return;
    const was = this.lease.lastEpoch;
    this.role = 'follower';
    this.log.error({ epoch: was, reason }, 'lost the leadership: pushing nothing more');
    if (this.o.onFenced) this.o.onFenced(reason);
    else {
      // The jails and the fleet of this process have led: a clean follower starts afresh.
      // mayPush() says no from now on; the pause lets the log lines above reach their reader.
      process.exitCode = 75;
      setTimeout(() => process.exit(75), 200);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.tickTimer);
    clearInterval(this.pollTimer);
    clearTimeout(this.replicateTimer);
    try {
      if (this.role === 'follower' && this.standalone === 'yes') {
        // Its failures were acted on here: forwarded now, the leader would ban those addresses again.
        await this.handBack();
      } else await this.outbox.drained();
      if (this.role !== 'follower') {
        await this.replicate();
        await this.lease.release();
      }
      await this.pg.lease.query(`UPDATE nodes SET role = 'follower', heartbeat = now() - interval '1 hour' WHERE name = $1`, [this.node]).catch(() => undefined);
    } catch (err) {
      this.log.warn({ error: this.pg.clean(err) }, 'leaving the cluster uncleanly');
    }
    this.outbox.close();
    await this.pg.close();
  }

  // ---- failures --------------------------------------------------------

  /** A filter matched at this node. */
  onMatch(jail: string, m: JailMatch, ev: LogEvent): void {
    const wire: WireFailure = [
      jail,
      m.ip,
      Number.isFinite(m.time) ? m.time : Number.isFinite(ev.time) ? ev.time : null,
      ev.received,
      ev.origin,
      // The filter stage hands over the line with passwords removed and no password among
      // the fields (FilterMatch, src/filters/filter.ts): scrubbing again here cost more than counting.
      m.line.length > MAX_LINE ? m.line.slice(0, MAX_LINE) : m.line,
      m.fields,
    ];
    // While taking over, failures wait until PostgreSQL's have been read (so none is counted twice).
    if (this.role === 'starting') return void this.early.push([wire, m, ev]);
    this.outbox.push(wire);
    if (this.role === 'leader' || this.standalone === 'yes') this.o.engine.count(jail, m, ev);
  }

  private countWire(f: WireFailure): void {
    const [jail, ip, time, received, origin, line, fields] = f;
    const ev: LogEvent = { time: time ?? Number.NaN, received, source: 'cluster', origin, message: line, raw: line };
    this.o.engine.count(jail, { ip, time: time ?? Number.NaN, fields: fields ?? {}, line }, ev);
  }

  private fetchSoon(): void {
    if (this.role !== 'leader') return;
    if (this.fetching) {
      this.fetchAgain = true;
      return;
    }
    this.fetching = true;
    void this.fetch().finally(() => {
      this.fetching = false;
      if (this.fetchAgain) {
        this.fetchAgain = false;
        this.fetchSoon();
      }
    });
  }

  /** The leader reads the other nodes' new failures and counts them. */
  private async fetch(): Promise<void> {
    for (;;) {
      const nodes = [...this.seen.keys()];
      let r;
      try {
        r = await this.pg.work.query<{ node: string; seq: string; events: WireFailure[] }>(
          `SELECT f.node, f.seq, f.events FROM failures f
             LEFT JOIN unnest($2::text[], $3::bigint[]) AS w(node, seq) ON w.node = f.node
            WHERE f.node <> $1 AND CASE WHEN w.seq IS NULL THEN f.newest >= $4 ELSE f.seq > w.seq END
            ORDER BY f.seq LIMIT 50`,
          [this.node, nodes, nodes.map((n) => this.seen.get(n)!), this.unknownSince],
        );
      } catch (err) {
        this.trouble('reading failures', err);
        return;
      }
      if (this.role !== 'leader') return;
      for (const b of r.rows) {
        this.seen.set(b.node, Math.max(this.seen.get(b.node) ?? 0, Number(b.seq)));
        for (const f of b.events) this.countWire(f);
      }
      if (r.rows.length < 50) return;
    }
  }

  private async purge(): Promise<void> {
    this.lastPurge = Date.now();
    const before = Date.now() - this.o.engine.maxFindTimeMs() - 120_000;
    await this.pg.work.query(`DELETE FROM failures WHERE newest < $1 AND created < now() - interval '2 minutes'`, [before]);
    await this.relay.purge();
  }

  // ---- the leader's writes -------------------------------------------------

  /**
   * Run `fn` (announce a ban or unban to the fleet) once the local changes
   * made so far are in PostgreSQL. When the database is away and the lease
   * is still to be trusted, it runs anyway (the change is written when the
   * database is back); when the lease is not to be trusted, it waits.
   */
  afterWrite(fn: () => void): void {
    // A follower standing alone has nowhere to write: its bans are handed over when the database is back.
    if (this.role === 'follower' && this.standalone === 'yes') return fn();
    this.afterWritten.push(fn);
    this.replicateSoon(0);
  }

  private replicateSoon(ms: number): void {
    if (this.closed) return;
    // A ban waiting to be announced must not wait for the idle poll (up to 100 ms) already set.
    const due = Date.now() + ms;
    if (this.replicateTimer) {
      if (this.replicateDue <= due) return;
      clearTimeout(this.replicateTimer);
    }
    this.replicateDue = due;
    this.replicateTimer = setTimeout(() => {
      this.replicateTimer = undefined;
      void this.replicate();
    }, ms);
  }

  private replicateDue = 0;

  /** Copy the local changes to PostgreSQL, fenced by the epoch; then run what waited for it. */
  async replicate(): Promise<void> {
    if (this.replicating) {
      this.replicateAgain = true;
      return this.replicating;
    }
    const run = this.replicateOnce();
    this.replicating = run;
    try {
      await run;
    } finally {
      this.replicating = undefined;
      if (this.replicateAgain) {
        this.replicateAgain = false;
        this.replicateSoon(0);
      } else if (this.role !== 'follower') {
        // Ledger answers and expiries change the state without anyone waiting: keep up.
        this.replicateSoon(this.changes.latest() > 0 ? 20 : 100);
      }
    }
  }

  private async replicateOnce(): Promise<void> {
    const epoch = this.lease.lastEpoch;
    if (this.role === 'follower' || epoch === null) return;
    const waiting = this.afterWritten.splice(0);
    const target = this.changes.latest();
    try {
      let after = 0;
      while (after < target) {
        const p = this.changes.collect(after, target);
        if (p.count === 0) break;
        const c = await this.pg.work.connect();
        try {
          await fenced(c, this.node, epoch, (x) => writeChanges(x, p, this.node, epoch));
        } finally {
          c.release();
        }
        this.changes.done(p.upTo);
        after = p.upTo;
      }
      this.healthy();
      for (const fn of waiting) fn();
    } catch (err) {
      if (err instanceof FencedError) {
        this.fence('a write was refused: another node leads');
        return;
      }
      this.trouble('writing bans and the ledger', err);
      if (this.lease.valid() || this.standalone === 'yes') {
        for (const fn of waiting) fn();
      } else {
        this.afterWritten.unshift(...waiting);
      }
      this.replicateSoon(250);
    }
  }

  /** Checked by the fleet before it writes any command to a host. */
  mayPush(): boolean {
    if (this.role === 'leader' && this.lease.valid()) return true;
    if (this.standalone === 'yes') return true;
    this.blockedPush = true;
    return false;
  }

  // ---- control verbs -------------------------------------------------------

  /**
   * Route `status`, `banned`, `hosts`, `ban`, `unban` through the leader when
   * this node follows, and add `nodes`. Call after the service registered
   * its own handlers.
   */
  installRoutes(control: ControlServer & { handler(verb: string): ControlHandler | undefined }): void {
    for (const verb of RELAYED_VERBS) {
      const local = control.handler(verb);
      if (!local) continue;
      this.handlers.set(verb, local);
      control.handle(verb, async (args) => {
        if (this.role === 'leader') return this.withCluster(verb, await local(args));
        // Standing alone, a node answers for what it holds itself.
        if (this.standalone === 'yes') return this.withCluster(verb, await local(args));
        try {
          return this.withCluster(verb, await this.relay.ask(verb, args));
        } catch (err) {
          // Without a leader (or without the database) a node still says how it is itself.
          if (verb === 'status') return this.withCluster(verb, await local(args));
          throw err;
        }
      });
    }
    control.handle('nodes', () => this.nodes());
  }

  private withCluster(verb: string, result: unknown): unknown {
    if (verb === 'status' && result && typeof result === 'object' && !Array.isArray(result) && 'jails' in result) {
      return { ...(result as Record<string, unknown>), cluster: this.status() };
    }
    return result;
  }

  private async serveRequests(): Promise<void> {
    if (this.role !== 'leader' || this.serving) return;
    this.serving = true;
    try {
      while (
        (await this.relay.serve(async (verb, args) => {
          const h = this.handlers.get(verb);
          if (!h) throw new Error(`verb ${verb} is not relayed`);
          return h(args);
        })) > 0
      );
    } catch (err) {
      this.trouble('serving requests of other nodes', err);
    } finally {
      this.serving = false;
    }
  }

  /** Every node with its heartbeat, as the database has them. */
  async nodes(): Promise<NodeJson[]> {
    const lease = Math.max(1, this.o.config.leaseMs / 1000);
    const r = await this.pg.work.query<{
      name: string;
      heartbeat: Date;
      started: Date;
      age: number;
      degraded: boolean;
      failures_forwarded: string;
      backlog: number;
      lag_ms: number;
      leads: boolean;
      epoch: string;
    }>(
      `SELECT n.name, n.heartbeat, n.started, extract(epoch FROM now() - n.heartbeat)::float8 AS age, n.degraded,
              n.failures_forwarded, n.backlog, n.lag_ms, (l.node = n.name AND l.lease_until > now()) AS leads, l.epoch
         FROM nodes n CROSS JOIN leader l WHERE l.id = 1 ORDER BY n.name`,
    );
    return r.rows.map((n) => ({
      name: n.name,
      role: n.leads ? 'leader' : 'follower',
      lastSeen: n.heartbeat.toISOString(),
      age: Math.round(n.age * 10) / 10,
      alive: n.age < 3 * lease,
      degraded: n.degraded,
      started: n.started.toISOString(),
      failuresForwarded: Number(n.failures_forwarded),
      backlog: n.backlog,
      lagMs: n.lag_ms,
      epoch: n.leads ? Number(n.epoch) : null,
    }));
  }

  status(): ClusterStatus {
    const s = this.outbox.stats();
    return {
      node: this.node,
      role: this.role,
      leader: this.role === 'leader' ? this.node : this.leaderSeen.node,
      epoch: this.role === 'leader' ? this.lease.lastEpoch : this.leaderSeen.epoch,
      degraded: this.degradedSince !== null,
      standalone: this.standalone === 'yes',
      lastError: this.lastError,
      forwarded: s.forwarded,
      backlog: s.backlog,
      lagMs: s.lagMs,
      dropped: s.dropped,
      unreplicated: this.role === 'follower' ? 0 : this.changes.latest() > 0 ? 1 : 0,
    };
  }

  // ---- a long outage: standing alone ---------------------------------------

  /**
   * PostgreSQL has been away for longer than standalone_after: protect this
   * node's own senders rather than wait. A leader keeps pushing what it
   * decides (its lease is no longer to be trusted, so another node may lead
   * too, for the senders it can reach). A follower starts its own jails and
   * fleet from an empty state (what it held from an earlier leadership is
   * stale; the leader's bans stay on the hosts, it never unbans them),
   * counts the failures it still holds and every new one, and pushes to the
   * hosts it reaches. Its failures are kept back meanwhile (see rejoin).
   */
  private async standAloneIfLong(): Promise<void> {
    const after = this.o.config.standaloneMs;
    if (after <= 0 || this.standalone !== 'no' || this.degradedSince === null || this.role === 'starting' || this.closed) return;
    const away = Date.now() - this.degradedSince;
    if (away < after) return;
    this.log.warn({ away, role: this.role }, "PostgreSQL unreachable for longer than standalone_after: protecting this node's own senders alone");
    if (this.role === 'leader') {
      this.standalone = 'yes';
      // Pushes held while the lease was not to be trusted go out now.
      this.o.engine.reconcile();
      return;
    }
    this.standalone = 'starting';
    this.outbox.pause();
    this.o.engine.db.exec('DELETE FROM main.bans; DELETE FROM main.ledger; DELETE FROM main.fleet_host; DELETE FROM main.failures;');
    this.changes.clear();
    this.engineStarted = true;
    await this.o.engine.startEngine();
    this.standalone = 'yes';
    for (const f of this.outbox.waiting()) this.countWire(f);
  }

  /**
   * A follower that stood alone reaches PostgreSQL again: it hands its bans
   * over, forwards the failures that led to none, and starts again as a
   * follower (its jails and fleet ran on their own).
   */
  private async rejoin(): Promise<void> {
    await this.pg.work.query('SELECT 1');
    const handed = await this.handBack();
    const banned = new Set(handed.map((h) => `${h.ban.jail}\u0000${h.ban.ip}`));
    // A ban forgets the failures that led to it (as in fail2ban): the leader must not count them again.
    const forgotten = this.outbox.forget((f) => banned.has(`${f[0]}\u0000${f[1]}`));
    this.outbox.resume();
    await this.outbox.drained();
    this.standalone = 'no';
    this.healthy();
    this.log.info({ bans: handed.length, forgotten }, 'PostgreSQL reachable again: bans handed to the cluster, starting again as a follower');
    this.role = 'follower';
    if (this.o.onFenced) this.o.onFenced('stood alone: starting again as a follower');
    else {
      process.exitCode = 75;
      setTimeout(() => process.exit(75), 200);
    }
  }

  /**
   * Write this node's bans into PostgreSQL (those it does not hold yet,
   * with the hosts that have them) and ask the leader to take them over.
   * Without a leader, the next one reads them at its takeover.
   */
  private async handBack(): Promise<HandedBan[]> {
    const list = collectHandover(this.o.engine.db);
    if (list.length === 0) return list;
    const c = await this.pg.work.connect();
    let fresh: number;
    try {
      fresh = await mergeIntoPg(c, list, this.node);
    } finally {
      c.release();
    }
    let adopted: unknown = null;
    try {
      adopted = await this.relay.ask('adopt', { node: this.node, bans: list });
    } catch (err) {
      this.log.warn({ error: this.pg.clean(err) }, 'no leader took the bans over: they wait in PostgreSQL for the next one');
    }
    this.log.info({ bans: list.length, newInPostgres: fresh, adopted }, 'bans decided alone handed to the cluster');
    return list;
  }

  /** The leader takes over bans a node decided alone (the `adopt` request). */
  private async adopt(args: Record<string, unknown>): Promise<{ adopted: number }> {
    if (this.role !== 'leader') throw new Error('this node does not lead');
    const list = Array.isArray(args.bans) ? (args.bans as HandedBan[]) : [];
    const adopted = await adoptHandover(this.o.engine.db, list, (b, h) => this.o.engine.adopt(b, h));
    this.log.info({ from: args.node, bans: list.length, adopted }, 'took over bans a node decided alone');
    return { adopted };
  }

  // ---- health ------------------------------------------------------------

  private trouble(what: string, err: unknown): void {
    const error = this.pg.clean(err);
    this.lastError = `${what}: ${error}`;
    if (this.degradedSince === null) {
      this.degradedSince = Date.now();
      this.log.warn({ error, while: what }, 'PostgreSQL unreachable: degraded, keeping decisions and failures locally');
    }
  }

  private healthy(): void {
    if (this.degradedSince === null) return;
    this.log.info({ after: Date.now() - this.degradedSince }, 'PostgreSQL reachable again');
    this.degradedSince = null;
  }
}
