import type { Logger } from 'pino';
import { settle, type Awaitable, type BanCommit, type HistoryRecord, type StateChange, type StateStore } from '../state/state-store.js';
import { banKeyOf, type Ban, type BanKey, type UnbanReason } from './ban.js';
import { ExpiryQueue } from './expiry-queue.js';

/**
 * The one announcement of the ban stage: a ban began or ended. The fleet
 * pushes it, recidive counts it, the metrics measure it; each subscribes
 * to the book (BanBook.subscribe) and hears every ban exactly once.
 */
export type BanEvent =
  | {
      kind: 'ban';
      ban: Ban;
      /** Fleet hosts in the ban's scope (src/fleet/ says which: the book's `audience`). */
      hosts: readonly string[];
      /** Decided at another node of the cluster (its own node counted it, recidive included). */
      remote: boolean;
    }
  | { kind: 'unban'; ban: Ban; reason: UnbanReason; hosts: readonly string[]; remote: boolean };

export type BanSubscriber = (event: BanEvent) => void;

export interface BanBookOptions {
  state: StateStore;
  logger: Logger;
  /** The clock, ms since the epoch (tests pass their own). */
  now?: () => number;
  /**
   * The fleet hosts a ban goes to, for the announcement and the Ban/Unban
   * log lines. src/fleet/ answers it (FleetDispatcher.audience); default none.
   */
  audience?: (ban: Ban) => readonly string[];
  /** Run the expiry timer (default true; tests call `expire()` themselves). */
  timers?: boolean;
}

/**
 * The book of active bans (fail2ban's banmanager, for the whole fleet):
 *
 * - commit: a ban is written to the state first and announced after, so a
 *   ban anyone heard of survives a crash; a crash in between loses nothing
 *   either, since the restored book is what the fleet reconciles against;
 * - one ban per jail and address: the store says whether a commit created
 *   it; a ban another node committed first is adopted, not announced twice;
 * - restore at start: the bans in force come back; those that ended while
 *   fleetban was down, or whose jail is gone, are lifted and announced;
 * - expiry: a ban whose time is up is lifted (removed from the state first),
 *   then announced;
 * - the announcement (BanEvent) goes to every subscriber, each guarded:
 *   one that throws is logged and the others still hear it.
 *
 * The jails decide bans (src/jails/); the book keeps them.
 */
export class BanBook {
  private readonly byJail = new Map<string, Map<string, Ban>>();
  /** Commits still waiting for a slow store (PostgreSQL), so a second decision does not commit twice. */
  private readonly committing = new Set<string>();
  private readonly expiry = new ExpiryQueue();
  private readonly subscribers: BanSubscriber[] = [];
  private readonly state: StateStore;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly timers: boolean;
  private audience: (ban: Ban) => readonly string[];
  private timer: NodeJS.Timeout | undefined;
  private unsubscribeChanges: (() => void) | undefined;
  private total = 0;

  constructor(o: BanBookOptions) {
    this.state = o.state;
    this.log = o.logger;
    this.now = o.now ?? Date.now;
    this.timers = o.timers ?? true;
    this.audience = o.audience ?? (() => []);
  }

  // ---- subscribers -------------------------------------------------------

  /** Hear every ban and unban from now on. Returns a function that stops it. */
  subscribe(fn: BanSubscriber): () => void {
    this.subscribers.push(fn);
    return () => {
      const i = this.subscribers.indexOf(fn);
      if (i !== -1) this.subscribers.splice(i, 1);
    };
  }

  /** Who answers "which hosts": the fleet, once it exists. */
  setAudience(fn: (ban: Ban) => readonly string[]): void {
    this.audience = fn;
  }

  // ---- life cycle --------------------------------------------------------

  /**
   * Bring back the bans in the state. Bans that ended while fleetban was
   * down, and bans of jails not in `jails`, are lifted and announced
   * (reason `start`). Then hear other nodes' changes and start the expiry timer.
   */
  restore(jails: ReadonlySet<string>): Awaitable<void> {
    return settle(this.state.loadBans(), (bans) => {
      const now = this.now();
      const ended: Ban[] = [];
      for (const b of bans) {
        if (!jails.has(b.jail) || (b.until !== null && b.until <= now)) ended.push(b);
        else this.put(b);
      }
      this.unsubscribeChanges ??= this.state.changes((c) => this.onChange(c));
      if (this.timers && !this.timer) {
        this.timer = setInterval(() => void this.expire(), 1000);
        this.timer.unref();
      }
      if (ended.length === 0) return;
      this.log.info({ count: ended.length }, 'lifting bans that ended while fleetban was down');
      return settle(this.state.removeBans(ended, 'start'), () => {
        for (const b of ended) this.announce({ kind: 'unban', ban: b, reason: 'start', hosts: this.audience(b), remote: false });
      });
    });
  }

  /** Stop the expiry timer and the change feed. The state stays open (its owner closes it). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribeChanges?.();
    this.unsubscribeChanges = undefined;
  }

  // ---- bans ----------------------------------------------------------------

  /**
   * Write-first commit: store the ban (with its history row), then keep it,
   * then announce it. When the store already holds a ban of that jail and
   * address (another node's), that one is kept, announced as remote if the
   * book did not know it, and returned with `created: false`.
   */
  commit(ban: Ban, history: HistoryRecord): Awaitable<BanCommit> {
    const key = banKeyOf(ban.jail, ban.ip);
    this.committing.add(key);
    let result: Awaitable<BanCommit>;
    try {
      result = this.state.commitBan(ban, history);
    } catch (err) {
      this.committing.delete(key);
      throw err;
    }
    const done = (c: BanCommit): BanCommit => {
      this.committing.delete(key);
      if (this.get(c.ban.jail, c.ban.ip)) return c;
      this.put(c.ban);
      if (c.created) this.total++;
      this.announce({ kind: 'ban', ban: c.ban, hosts: this.audience(c.ban), remote: !c.created });
      return c;
    };
    if (result instanceof Promise) {
      return result.then(done, (err: unknown) => {
        this.committing.delete(key);
        throw err;
      });
    }
    return done(result);
  }

  /**
   * Lift bans: removed from the state first, then from the book, then
   * announced. Bans the book does not hold are skipped. Returns those lifted.
   */
  lift(keys: readonly BanKey[], reason: UnbanReason): Awaitable<Ban[]> {
    const bans: Ban[] = [];
    for (const k of keys) {
      const b = this.get(k.jail, k.ip);
      if (b && !bans.includes(b)) bans.push(b);
    }
    if (bans.length === 0) return bans;
    return settle(this.state.removeBans(bans, reason), () => {
      for (const b of bans) this.byJail.get(b.jail)?.delete(b.ip);
      for (const b of bans) this.announce({ kind: 'unban', ban: b, reason, hosts: this.audience(b), remote: false });
      return bans;
    });
  }

  /** Lift every ban whose time is up (the timer calls it every second). Returns those lifted. */
  expire(): Awaitable<Ban[]> {
    const now = this.now();
    const due: Ban[] = [];
    for (let top = this.expiry.peek(); top !== undefined && top <= now; top = this.expiry.peek()) {
      const e = this.expiry.pop()!;
      const b = this.get(e.jail, e.key);
      if (b && b.until === e.until) due.push(b);
    }
    try {
      const lifted = this.lift(due, 'expired');
      return lifted instanceof Promise ? lifted.catch((err: unknown) => this.expiryFailed(err, due)) : lifted;
    } catch (err) {
      return this.expiryFailed(err, due);
    }
  }

  // ---- queries ---------------------------------------------------------------

  /**
   * The bans of one jail, by address or network: the book's own map, live,
   * for the jails' decision path (one lookup per failure). Read only.
   */
  jail(name: string): ReadonlyMap<string, Ban> {
    let m = this.byJail.get(name);
    if (!m) this.byJail.set(name, (m = new Map()));
    return m;
  }

  get(jail: string, ip: string): Ban | undefined {
    return this.byJail.get(jail)?.get(ip);
  }

  /** True while a commit of this jail and address waits for the store. */
  isCommitting(jail: string, ip: string): boolean {
    return this.committing.size > 0 && this.committing.has(banKeyOf(jail, ip));
  }

  /** Every active ban (the fleet reconciles each host with them; `fleetban banned` lists them). */
  *active(): IterableIterator<Ban> {
    for (const m of this.byJail.values()) yield* m.values();
  }

  /** Active bans of a jail, or of all. */
  size(jail?: string): number {
    if (jail !== undefined) return this.byJail.get(jail)?.size ?? 0;
    let n = 0;
    for (const m of this.byJail.values()) n += m.size;
    return n;
  }

  /** Bans this book committed since it started (not those adopted from other nodes). */
  get committed(): number {
    return this.total;
  }

  // ---- internals -------------------------------------------------------------

  private put(b: Ban): void {
    let m = this.byJail.get(b.jail);
    if (!m) this.byJail.set(b.jail, (m = new Map()));
    m.set(b.ip, b);
    if (b.until !== null) this.expiry.push(b.until, b.jail, b.ip);
  }

  /** Another node banned or lifted: the book follows, and announces it as remote. */
  private onChange(c: StateChange): void {
    if (c.kind === 'ban') {
      if (this.get(c.ban.jail, c.ban.ip)) return;
      this.put(c.ban);
      this.announce({ kind: 'ban', ban: c.ban, hosts: this.audience(c.ban), remote: true });
    } else if (c.kind === 'unban') {
      const b = this.get(c.jail, c.ip);
      if (!b) return;
      this.byJail.get(c.jail)?.delete(c.ip);
      this.announce({ kind: 'unban', ban: b, reason: c.reason, hosts: this.audience(b), remote: true });
    }
  }

  private expiryFailed(err: unknown, due: Ban[]): Ban[] {
    // Try again at the next tick: the bans stay in the book and in the state.
    for (const b of due) if (b.until !== null) this.expiry.push(b.until, b.jail, b.ip);
    this.log.error({ err, bans: due.length }, 'lifting expired bans failed; trying again');
    return [];
  }

  private announce(e: BanEvent): void {
    for (const fn of this.subscribers) {
      try {
        fn(e);
      } catch (err) {
        this.log.error({ err, jail: e.ban.jail, ip: e.ban.ip }, `${e.kind} subscriber failed`);
      }
    }
    const b = e.ban;
    // One line per ban and unban, for administrators and log shippers.
    if (e.kind === 'ban') {
      this.log.info(
        {
          jail: b.jail,
          ip: b.ip,
          hosts: e.hosts,
          reason: b.manual ? 'manual' : `${b.failures} failures within findtime`,
          until: b.until === null ? 'never' : new Date(b.until).toISOString(),
          count: b.count,
          failures: b.failures,
          manual: b.manual,
          ...(e.remote ? { remote: true } : {}),
        },
        'Ban',
      );
    } else {
      this.log.info({ jail: b.jail, ip: b.ip, hosts: e.hosts, reason: e.reason, ...(e.remote ? { remote: true } : {}) }, 'Unban');
    }
  }
}
