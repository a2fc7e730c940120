import type { Logger } from 'pino';
import type { Ban } from '../bans/ban.js';
import type { BanBook, BanEvent } from '../bans/ban-book.js';
import type { Scope } from '../bans/scope.js';
import type { LogEvent } from '../model/log-event.js';
import { canonicalIp, cidrsOverlap, formatCidr, parseCidr, parseIp, prefixKey } from '../net/address.js';
import type { CidrSet } from '../net/cidr-set.js';
import { settle, type Awaitable, type FailureDeletion, type FailureRecord, type SharedFailure, type StateChange, type StateStore } from '../state/state-store.js';
import { BanTimeIncrement } from './ban-time-increment.js';
import type { JailMatch } from './filter-match.js';
import { runIgnoreCommand } from './ignore-command.js';
import { LOOPBACK, isLoopback, systemResolver, type NameResolver } from './ignore-list.js';
import { BANS_SOURCE, formatScope, type JailConfig } from '../config/jail-config.js';
import { JailError } from './jail-error.js';
import type { JailStatus } from './jail-status.js';
import { Jail } from './jail.js';
import { scrubFields, scrubPasswords } from '../filters/password-scrub.js';

export interface JailManagerOptions {
  /** Failures (written behind), ban history; shared with other nodes when the store says so. */
  state: StateStore;
  /** Where bans go once decided: the book commits, announces and expires them. */
  book: BanBook;
  jails: JailConfig[];
  /** Loopback, the central host's addresses, every fleet host's: never banned. */
  neverBan: CidrSet;
  logger: Logger;
  /** The clock, ms since the epoch (tests pass their own). */
  now?: () => number;
  /** Ban history older than this many seconds is forgotten (fail2ban's dbpurgeage; default 1 day). */
  dbPurgeAge?: number;
  /** How far ahead of arrival a stamp may be before it counts as forged, ms (default 60 s: clock skew). */
  futureToleranceMs?: number;
  /** Most addresses tracked per jail; the oldest make room beyond it (default 4,000,000). */
  maxTracked?: number;
  /** Resolves ignoreip host names (default: the system resolver). */
  resolver?: NameResolver;
  random?: () => number;
  /** Run the housekeeping timer (default true; tests drive `tick()` themselves). */
  timers?: boolean;
  /**
   * Most failure rows written per flush of the state (default 20,000, about
   * 0.1 s of work): under a flood of new addresses the writes lag behind
   * rather than stall the event loop.
   */
  failureRowsPerFlush?: number;
}

const SWEEP_EVERY_MS = 60_000;
const PURGE_EVERY_MS = 3_600_000;
const MAX_ORIGINS = 65_535;
const FORGED_LOG_EVERY_MS = 10_000;

/**
 * Turns failures into bans, for every jail (fail2ban's jail, failmanager
 * and observer; the ban book in src/bans/ is its banmanager):
 * - failures are counted per jail and address across the whole fleet, in a
 *   sliding window of findtime by event time (and across nodes: a cluster's
 *   store shares each node's failures with the others);
 * - maxretry of them within findtime ban the address for bantime, longer for
 *   an address banned before (bantime.increment); the book commits the ban;
 * - ignoreip, ignoreself, ignorecommand, loopback and the fleet's own
 *   addresses are never banned: their failures are counted as ignored;
 * - jails with `sources = bans` (recidive) count the book's announcements.
 */
export class JailManager {
  private readonly jails = new Map<string, Jail>();
  private readonly state: StateStore;
  private readonly book: BanBook;
  private neverBan: CidrSet;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly resolver: NameResolver;
  private readonly dbPurgeAgeMs: number;
  private readonly futureToleranceMs: number;
  private readonly maxTracked: number;
  private readonly timers: boolean;
  private readonly rowsPerFlush: number;
  private readonly originIds = new Map<string, number>();
  private readonly originNames: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private unregisterFlush: (() => void) | undefined;
  private unsubscribe: (() => void)[] = [];
  /** The store shares failures with other nodes: hand it each one counted here. */
  private readonly shares: boolean;
  private lastSweep = 0;
  private lastPurge = 0;
  private started = false;
  /** Failures for jails this manager does not have (a wiring mistake, or a reload in flight). */
  unknownJail = 0;

  constructor(o: JailManagerOptions) {
    this.state = o.state;
    this.book = o.book;
    this.shares = o.state.sharesFailures;
    this.neverBan = o.neverBan;
    this.log = o.logger;
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.resolver = o.resolver ?? systemResolver;
    this.dbPurgeAgeMs = (o.dbPurgeAge ?? 86_400) * 1000;
    this.futureToleranceMs = o.futureToleranceMs ?? 60_000;
    this.maxTracked = o.maxTracked ?? 4_000_000;
    this.timers = o.timers ?? true;
    this.rowsPerFlush = o.failureRowsPerFlush ?? 20_000;
    this.internOrigin('?');
    for (const c of o.jails) this.jails.set(c.name, this.newJail(c));
  }

  // ---- life cycle ------------------------------------------------------

  /**
   * Restore bans (the book), failures and history from the state; the bans
   * that ended while the service was down are lifted and announced; start
   * the housekeeping timer; resolve ignoreip names (see `resolveIgnoreNames`).
   */
  start(): Awaitable<void> {
    if (this.started) return;
    this.started = true;
    this.unsubscribe.push(this.book.subscribe((e) => this.onBanEvent(e)));
    this.unsubscribe.push(this.state.changes((c) => this.onStateChange(c)));
    return settle(this.book.restore(new Set(this.jails.keys())), () =>
      settle(allOf([...this.jails.values()].map((jail) => this.restoreJail(jail, this.now()))), () => {
        const now = this.now();
        this.unregisterFlush = this.state.onFlush(() => this.writeFailures());
        this.lastSweep = now;
        this.lastPurge = now;
        if (this.timers) {
          this.timer = setInterval(() => this.tick(), 1000);
          this.timer.unref();
        }
        void this.resolveIgnoreNames();
      }),
    );
  }

  /** Stop the timer and write every pending failure. The state store stays open (its owner closes it). */
  stop(): Awaitable<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const u of this.unsubscribe.splice(0)) u();
    const done = () => {
      this.unregisterFlush?.();
      this.unregisterFlush = undefined;
    };
    const failed = (err: unknown) => {
      this.log.error({ err }, 'writing failures at stop failed');
      done();
    };
    // Each flush writes up to failureRowsPerFlush rows: repeat until none wait.
    const more = (): Awaitable<void> => {
      if (!this.unregisterFlush || this.pendingFailureWrites() === 0) return done();
      return settle(this.state.flush(), more);
    };
    try {
      const r = settle(this.state.flush(), more);
      return r instanceof Promise ? r.catch(failed) : r;
    } catch (err) {
      failed(err);
    }
  }

  /**
   * Resolve the host names of every jail's ignoreip. start() and reload()
   * call it without waiting; the service may await it before it opens its
   * listeners so that no failure of an ignored name is counted meanwhile.
   */
  async resolveIgnoreNames(): Promise<void> {
    await Promise.all(
      [...this.jails.values()].map(async (jail) => {
        if (jail.ignore.names.length === 0) return;
        const failed = await jail.ignore.resolve(this.resolver);
        for (const f of failed) this.log.warn({ jail: jail.name, name: f.name, error: f.error }, 'ignoreip: cannot resolve a host name');
        this.dropIgnored(jail);
      }),
    );
  }

  /**
   * Take a new set of jails: jails that remain keep their failures and bans
   * (under their new options); new jails start empty; bans of removed jails
   * are lifted and announced. `neverBan`, when given, replaces the list of
   * addresses never banned (fleet.conf changed).
   */
  reload(configs: JailConfig[], neverBan?: CidrSet): void {
    const now = this.now();
    if (neverBan) this.neverBan = neverBan;
    const next = new Set(configs.map((c) => c.name));
    for (const [name, jail] of this.jails) {
      if (next.has(name)) continue;
      const lifted = [...jail.bans.values()];
      this.jails.delete(name);
      void this.book.lift(lifted, 'reload');
      void this.state.dropFailures(name);
      this.log.info({ jail: name, lifted: lifted.length }, 'jail removed by reload');
    }
    for (const c of configs) {
      const jail = this.jails.get(c.name);
      if (jail) {
        jail.reconfigure(c, this.random);
      } else {
        const fresh = this.newJail(c);
        this.jails.set(c.name, fresh);
        if (this.started) void this.restoreJail(fresh, now);
      }
    }
    // Addresses the new lists ignore are forgotten now, and again once names resolve.
    for (const jail of this.jails.values()) this.dropIgnored(jail);
    void this.resolveIgnoreNames();
  }

  // ---- failures ----------------------------------------------------------

  /** A filter of `jail` matched `ev`: count one failure of `match.ip`. */
  onMatch(jailName: string, match: JailMatch, ev: LogEvent): void {
    const jail = this.jails.get(jailName);
    if (jail === undefined) {
      this.unknownJail++;
      return;
    }
    const arrival = Number.isFinite(ev.received) ? ev.received : this.now();
    let time = Number.isFinite(match.time) ? match.time : ev.time;
    if (!Number.isFinite(time)) {
      time = arrival;
    } else if (time > arrival + this.futureToleranceMs || time < arrival - jail.findTimeMs) {
      // A stamp from the future, or older than the window: a forged or
      // replayed line must neither escape the window nor stretch it.
      this.noteForged(jail, match.ip, time, arrival, ev.origin);
      time = arrival;
    }
    this.countFailure(jail, match.ip, time, ev.origin, match.fields, match.line);
  }

  private countFailure(
    jail: Jail,
    ip: string,
    time: number,
    origin: string,
    fields: Record<string, string>,
    line: string,
    presetKey?: string,
    remote = false,
  ): void {
    const key = presetKey ?? this.keyOf(jail, ip);
    if (key === null) {
      jail.ignored++;
      return;
    }
    if (jail.bans.has(key)) return; // already banned: nothing more to decide
    const window = jail.window;
    let slot = window.lookup(key);
    if (slot < 0) {
      if (this.isIgnored(jail, ip)) {
        jail.ignored++;
        return;
      }
      if (window.size >= this.maxTracked) {
        const evicted = window.evictOne(this.random);
        if (evicted !== undefined) {
          jail.deleted.push(evicted);
          jail.evicted++;
        }
      }
      slot = window.allocate(key);
    } else if (key !== ip && this.isIgnored(jail, ip)) {
      // Per-prefix counting: each address of the network is checked.
      jail.ignored++;
      return;
    }
    jail.totalFailed++;
    const weight = jail.badCounts.size > 0 ? BanTimeIncrement.failureWeight(jail.badCounts.get(key) ?? 0, jail.config.maxRetry) : 1;
    window.setLastLine(slot, jail.ring.push(line, window.lastLineAt(slot)));
    if (this.shares && !remote) jail.outbox.push({ ip: key, time, origin, weight });
    if (!window.addAt(slot, time, this.internOrigin(origin), weight)) return;

    // Due for a ban (unless a commit of it is still on its way to a slow store).
    if (this.book.isCommitting(jail.name, key)) return;
    if (jail.config.ignoreCommand) {
      this.banAfterIgnoreCommand(jail, key, ip, fields);
      return;
    }
    void this.banKey(jail, key, fields, false);
  }

  private banAfterIgnoreCommand(jail: Jail, key: string, ip: string, fields: Record<string, string>): void {
    const until = jail.commandIgnores.get(key);
    const now = this.now();
    if (until !== undefined && until > now) {
      this.forgetFailures(jail, key);
      jail.ignored++;
      return;
    }
    if (jail.commandPending.has(key)) return;
    jail.commandPending.add(key);
    const command = jail.config.ignoreCommand!;
    void runIgnoreCommand(command, ip).then((verdict) => {
      jail.commandPending.delete(key);
      if (this.jails.get(jail.name) !== jail || jail.bans.has(key) || this.book.isCommitting(jail.name, key)) return;
      if (verdict.error) this.log.warn({ jail: jail.name, ip, error: verdict.error }, 'ignorecommand failed; banning');
      if (verdict.ignore) {
        if (jail.commandIgnores.size > 100_000) jail.commandIgnores.clear();
        jail.commandIgnores.set(key, this.now() + jail.findTimeMs);
        this.forgetFailures(jail, key);
        jail.ignored++;
        this.log.info({ jail: jail.name, ip }, 'ignorecommand: address ignored');
        return;
      }
      void this.banKey(jail, key, fields, false);
    });
  }

  private forgetFailures(jail: Jail, key: string): void {
    if (jail.window.delete(key)) jail.deleted.push(key);
  }

  // ---- bans ------------------------------------------------------------

  /**
   * Ban `ip` in `jail` as if the jail had decided it (fleetban ban).
   * Returns the ban; an address already banned keeps its ban, returned as is.
   */
  ban(jailName: string, ipText: string): Awaitable<Ban> {
    const jail = this.jailOrThrow(jailName);
    const ip = canonicalIp(ipText.trim());
    if (ip === null) throw new JailError(`not an IP address: ${JSON.stringify(ipText)}`, 'invalid-ip');
    const key = this.keyOf(jail, ip) ?? ip;
    const a = parseIp(ip)!;
    const net = key !== ip ? parseCidr(key) : null;
    if (isLoopback(a) || this.neverBan.has(ip) || (net && (this.neverBan.overlaps(net) || LOOPBACK.some((c) => cidrsOverlap(c, net))))) {
      throw new JailError(`${ip} is loopback, the central host or a fleet host: it is never banned`, 'never-ban');
    }
    const existing = jail.bans.get(key);
    if (existing) return existing;
    return this.banKey(jail, key, {}, true);
  }

  /** True when `ip` (or its network, for per-prefix jails) is banned in `jail`. */
  isBanned(jailName: string, ipText: string): boolean {
    const jail = this.jails.get(jailName);
    if (!jail) return false;
    return this.keysFor(jail, ipText).some((k) => jail.bans.has(k));
  }

  /**
   * Decide the ban of `key` and hand it to the book, which commits it
   * (written first) and announces it. bantime.increment reads the shared
   * ban history first.
   */
  private banKey(jail: Jail, key: string, fields: Record<string, string>, manual: boolean): Awaitable<Ban> {
    const cfg = jail.config;
    const inJail = this.state.history(cfg.name, key);
    const overall = cfg.increment.overallJails ? this.state.historyAllJails(key) : undefined;
    return settle(inJail, (h) =>
      settle(overall, (all) => {
        const now = this.now();
        const previous = cfg.increment.overallJails ? (all?.count ?? 0) : (h?.count ?? 0);
        const banTime = jail.increment.banTime(cfg.banTime, previous);
        const slot = jail.window.lookup(key);
        const failures = slot < 0 ? 0 : jail.window.countAt(slot);
        const origins = slot < 0 ? [] : jail.window.originIdsAt(slot).map((id) => this.originNames[id]!).filter((o) => o !== '?');
        const matches = slot < 0 ? [] : jail.ring.collect(jail.window.lastLineAt(slot), cfg.maxMatches).map(scrubPasswords);
        // A manual ban in an origin-scoped jail has no origin to go to: it goes everywhere.
        const scope: Scope = manual && cfg.scope.kind === 'origin' ? { kind: 'fleet' } : cfg.scope;
        const ban: Ban = {
          jail: cfg.name,
          ip: key,
          since: now,
          until: banTime < 0 ? null : now + Math.round(banTime * 1000),
          count: previous + 1,
          failures,
          scope,
          origins,
          fields: scrubFields(fields),
          manual,
          matches,
        };
        const inJailCount = (h?.count ?? 0) + 1;
        const history = { jail: cfg.name, ip: key, time: now, banTime: banTime < 0 ? -1 : banTime, count: inJailCount };
        return settle(this.book.commit(ban, history), (c) => {
          // The store forgot the failures that led to it (commitBan); the window does too.
          if (this.jails.get(cfg.name) === jail) {
            const at = jail.window.lookup(key);
            if (at >= 0) jail.window.deleteSlot(at);
            if (c.created) {
              jail.totalBanned++;
              if (cfg.increment.enabled) jail.badCounts.set(key, inJailCount);
            }
          }
          return c.ban;
        });
      }),
    );
  }

  /** The book announced a ban or an unban. */
  private onBanEvent(e: BanEvent): void {
    if (e.kind !== 'ban') return;
    if (e.remote) {
      // Another node banned it: its failures here are spent too.
      const jail = this.jails.get(e.ban.jail);
      if (jail) this.forgetFailures(jail, e.ban.ip);
      return;
    }
    this.feedRecidive(e.ban);
  }

  /** Failures other nodes counted: count them here too (never shared back). */
  private onStateChange(c: StateChange): void {
    if (c.kind !== 'failures') return;
    const jail = this.jails.get(c.jail);
    if (!jail) return;
    const line = `(failure seen by node ${c.node})`;
    for (const f of c.failures) {
      const ip = f.ip.includes('/') ? f.ip.split('/')[0]! : f.ip;
      this.countFailure(jail, ip, f.time, f.origin, {}, line, f.ip, true);
    }
  }

  /** Jails with `sources = bans` count every ban of the other jails as one failure (recidive). */
  private feedRecidive(ban: Ban): void {
    const from = this.jails.get(ban.jail);
    if (!from || from.config.sources.includes(BANS_SOURCE)) return;
    for (const jail of this.jails.values()) {
      if (jail === from || !jail.config.sources.includes(BANS_SOURCE)) continue;
      const line = `[${ban.jail}] Ban ${ban.ip}`;
      // A network banned by a per-prefix jail stays that network.
      const preset = ban.ip.includes('/') ? ban.ip : undefined;
      this.countFailure(jail, preset ? ban.ip.split('/')[0]! : ban.ip, ban.since, ban.origins[0] ?? '?', ban.fields, line, preset);
    }
  }

  /**
   * Lift the bans of `ip` (an address, or a network for per-prefix jails) in
   * `jail`, or in every jail; returns how many were lifted.
   */
  unban(jailName: string | undefined, ipText: string): Awaitable<number> {
    const jails = jailName === undefined ? [...this.jails.values()] : [this.jailOrThrow(jailName)];
    if (canonicalIp(ipText.trim()) === null && parseCidr(ipText.trim()) === null) {
      throw new JailError(`not an IP address: ${JSON.stringify(ipText)}`, 'invalid-ip');
    }
    const lifted: Ban[] = [];
    for (const jail of jails) {
      for (const key of this.keysFor(jail, ipText)) {
        const b = jail.bans.get(key);
        if (b) lifted.push(b);
      }
    }
    return settle(this.book.lift(lifted, 'manual'), (l) => l.length);
  }

  /**
   * Every minute forget failures that left their window and, every hour,
   * ban history older than dbpurgeage. The timer calls it every second
   * (the book expires bans on its own timer).
   */
  tick(): void {
    const now = this.now();
    try {
      if (now - this.lastSweep >= SWEEP_EVERY_MS) {
        this.lastSweep = now;
        for (const jail of this.jails.values()) {
          const cutoff = now - jail.findTimeMs;
          jail.window.sweep(cutoff);
          guard(this.state.purgeFailures(jail.name, cutoff), this.log);
          if (jail.commandIgnores.size > 0) for (const [k, u] of jail.commandIgnores) if (u <= now) jail.commandIgnores.delete(k);
        }
      }
      if (now - this.lastPurge >= PURGE_EVERY_MS) {
        this.lastPurge = now;
        guard(
          settle(this.state.purgeHistory(now - this.dbPurgeAgeMs), () => {
            for (const jail of this.jails.values()) guard(this.loadBadCounts(jail, now), this.log);
          }),
          this.log,
        );
      }
    } catch (err) {
      this.log.error({ err }, 'jail housekeeping failed');
    }
  }

  // ---- queries ---------------------------------------------------------

  /** One jail's status (with its banned addresses), or every jail's. */
  status(jailName?: string): JailStatus | JailStatus[] {
    if (jailName !== undefined) {
      const jail = this.jailOrThrow(jailName);
      return { ...this.statusOf(jail), bannedIps: [...jail.bans.keys()] };
    }
    return [...this.jails.values()].map((j) => this.statusOf(j));
  }

  private statusOf(jail: Jail): JailStatus {
    const c = jail.config;
    return {
      jail: c.name,
      filter: c.filter?.name ?? null,
      scope: formatScope(c.scope),
      sources: c.sources,
      maxRetry: c.maxRetry,
      findTime: c.findTime,
      banTime: c.banTime,
      currentlyFailed: jail.window.size,
      totalFailed: jail.totalFailed,
      currentlyBanned: jail.bans.size,
      totalBanned: jail.totalBanned,
      ignored: jail.ignored,
      forged: jail.forged,
    };
  }

  /** Addresses whose failures wait to be written to the state database (a metric: it grows under a flood). */
  pendingFailureWrites(): number {
    let n = 0;
    for (const j of this.jails.values()) n += j.window.pendingWrites + j.deleted.length;
    return n;
  }

  jailNames(): string[] {
    return [...this.jails.keys()];
  }


  // ---- internals -------------------------------------------------------

  private newJail(c: JailConfig): Jail {
    return new Jail(c, this.random, this.book.jail(c.name));
  }

  private jailOrThrow(name: string): Jail {
    const j = this.jails.get(name);
    if (!j) throw new JailError(`no such jail: ${JSON.stringify(name)} (jails: ${[...this.jails.keys()].join(', ') || 'none'})`, 'unknown-jail');
    return j;
  }

  /**
   * The failure and ban key of `ip` in `jail`: the address, or its network
   * when the jail counts IPv6 per prefix (unless that network holds an
   * address never to be banned: then the address alone). null when `ip` is
   * not an address.
   */
  private keyOf(jail: Jail, ip: string): string | null {
    const p = jail.config.ipv6Prefix;
    if (p >= 128 || ip.indexOf(':') === -1) return ip;
    const key = prefixKey(ip, p);
    if (key === ip) return parseIp(ip) ? ip : null;
    const net = parseCidr(key);
    if (!net) return null;
    if (jail.ignore.overlaps(net) || LOOPBACK.some((c) => cidrsOverlap(c, net)) || this.neverBan.overlaps(net)) {
      return ip;
    }
    return key;
  }

  /** The keys an address or network text given by an administrator may be banned under in `jail`. */
  private keysFor(jail: Jail, text: string): string[] {
    const t = text.trim();
    const ip = canonicalIp(t);
    if (ip !== null) {
      const k = this.keyOf(jail, ip);
      return k !== null && k !== ip ? [ip, k] : [ip];
    }
    const net = parseCidr(t);
    return net ? [formatCidr(net)] : [];
  }

  private isIgnored(jail: Jail, ip: string): boolean {
    const a = parseIp(ip);
    if (a === null) return true; // not an address: nothing to ban
    return isLoopback(a) || this.neverBan.has(ip) || jail.ignore.has(a);
  }

  /** After ignore lists change, forget failures of addresses now ignored. */
  private dropIgnored(jail: Jail): void {
    const drop: string[] = [];
    for (const key of jail.window.keys()) {
      const ip = key.includes('/') ? key.split('/')[0]! : key;
      if (this.isIgnored(jail, ip)) drop.push(key);
    }
    for (const k of drop) this.forgetFailures(jail, k);
  }

  private noteForged(jail: Jail, ip: string, stamp: number, arrival: number, origin: string): void {
    jail.forged++;
    if (arrival - jail.forgedLoggedAt < FORGED_LOG_EVERY_MS) {
      jail.forgedSuppressed++;
      return;
    }
    this.log.warn(
      {
        jail: jail.name,
        ip,
        origin,
        stamp: new Date(stamp).toISOString(),
        arrival: new Date(arrival).toISOString(),
        suppressed: jail.forgedSuppressed,
      },
      'failure stamped in the future or before findtime: counted at arrival time',
    );
    jail.forgedLoggedAt = arrival;
    jail.forgedSuppressed = 0;
  }

  private internOrigin(name: string): number {
    let id = this.originIds.get(name);
    if (id === undefined) {
      if (this.originNames.length >= MAX_ORIGINS) return 0;
      id = this.originNames.length;
      this.originIds.set(name, id);
      this.originNames.push(name);
    }
    return id;
  }

  /** Failures and history of one jail from the state database. */
  private restoreJail(jail: Jail, now: number): Awaitable<void> {
    const cutoff = now - jail.findTimeMs;
    return settle(this.state.loadFailures(jail.name, cutoff), (records) => {
      for (const f of records) {
        if (jail.bans.has(f.ip)) continue;
        for (let i = 0; i < f.times.length; i++) {
          const t = f.times[i]!;
          if (t < cutoff) continue;
          jail.window.add(f.ip, t, this.internOrigin(f.origins[i] ?? '?'), 1, false);
        }
      }
      return settle(this.state.purgeFailures(jail.name, cutoff), () => this.loadBadCounts(jail, now));
    });
  }

  private loadBadCounts(jail: Jail, now: number): Awaitable<void> {
    if (!jail.config.increment.enabled) {
      jail.badCounts.clear();
      return;
    }
    return settle(this.state.historyOfJail(jail.name, now - this.dbPurgeAgeMs), (rows) => {
      jail.badCounts.clear();
      for (const h of rows) jail.badCounts.set(h.ip, h.count);
    });
  }

  /** Inside the state's flush transaction: write the failures that changed (up to rowsPerFlush; the rest next time). */
  private writeFailures(): void {
    let budget = this.rowsPerFlush;
    for (const jail of this.jails.values()) {
      if (budget <= 0) return;
      const records: (FailureRecord | FailureDeletion)[] = [];
      while (jail.deleted.length > 0 && budget > 0) {
        records.push({ ip: jail.deleted.pop()!, times: [] });
        budget--;
      }
      const w = jail.window;
      budget -= w.drainDirty(budget, (slot) => {
        const snap = w.snapshotAt(slot);
        records.push({ ip: w.keyAt(slot), times: snap.times, origins: snap.origins.map((id) => this.originNames[id] ?? '?') });
      });
      if (records.length > 0) this.state.writeFailures(jail.name, records);
      if (jail.outbox.length > 0) this.state.shareFailures(jail.name, jail.outbox.splice(0));
    }
  }
}

/** Wait for all of them: at once when none is a promise. */
function allOf(list: Awaitable<void>[]): Awaitable<void> {
  return list.some((x) => x instanceof Promise) ? Promise.all(list).then(() => undefined) : undefined;
}

/** Housekeeping that may finish later: a failure is logged, never thrown at the timer. */
function guard(v: Awaitable<unknown>, log: Logger): void {
  if (v instanceof Promise) v.catch((err: unknown) => log.error({ err }, 'jail housekeeping failed'));
}
