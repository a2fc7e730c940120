import type { HostStatus } from '../fleet/fleet-dispatcher.js';
import type { LedgerStatus, LedgerStore } from '../fleet/ledger.js';
import type { History } from '../history/history.js';
import type { SeriesResult } from '../history/history-store.js';
import type { JailStatus } from '../jails/jail-status.js';
import { canonicalIp, cidrContains, parseCidr, parseIp } from '../net/address.js';
import type { MessageCounts } from '../service/metrics.js';

/** A ban's state on each host it goes to, as the ledger says. */
export type HostStates = Record<string, LedgerStatus>;

/** An active ban as the jails hold it in memory. Times in ms. */
export interface ActiveBan {
  jail: string;
  ip: string;
  since: number;
  until: number | null;
  count: number;
}

/** What the page reads of the running service. */
export interface WebSources {
  jails(): JailStatus[];
  /** Active bans as the book holds them; read again only after bansChanged() or when activeCount() differs. */
  active(): readonly ActiveBan[];
  /** How many bans are in force (cheap: the book's map sizes). */
  activeCount(): number;
  /** The ledger's answers the page needs, each without a pass over the ledger (LedgerStore keeps a tally). */
  ledger: Pick<LedgerStore, 'hostsOf' | 'banStates'>;
  /** The fleet's hosts with their ledger counts (from the tally: cheap, read live on every poll). */
  hosts(): HostStatus[];
  sources(): MessageCounts[];
  senders(): MessageCounts[];
  history: History;
  /** This node's name (each node of a cluster keeps its own history). */
  node: string;
}

/** The ranges the plots offer, and the bucket each is drawn with. */
export const RANGES = {
  hour: { minutes: 60, step: 1 },
  day: { minutes: 1440, step: 5 },
  week: { minutes: 10080, step: 30 },
} as const;
export type RangeName = keyof typeof RANGES;

/** A mail server silent this long, after it sent within the history, is flagged. */
export const SILENT_MS = 10 * 60_000;

/** How one ban stands on the hosts it goes to. */
export type BanState = 'acknowledged' | 'pending' | 'failed' | 'no-hosts';

export function banState(hosts: HostStates): BanState {
  const states = Object.values(hosts);
  if (states.length === 0) return 'no-hosts';
  if (states.includes('failed')) return 'failed';
  if (states.includes('pending')) return 'pending';
  return 'acknowledged';
}

/** The bans in force and what the views need of them. */
interface LiveBans {
  live: readonly ActiveBan[];
  perJail: Map<string, number>;
  ips: Set<string>;
  newest: ActiveBan[];
}

/** Ack latency of one host, from the fleet's `settled` events. */
interface Latency {
  lastMs: number;
  sumMs: number;
  n: number;
  maxMs: number;
}

/**
 * The JSON of each view, read live on every poll: what costs a pass over
 * the ledger elsewhere (host counts, bans per state) the ledger keeps as a
 * tally, and a ban's hosts are one indexed lookup, done for the 100 bans a
 * view lists. Only what follows from the bans in force (per jail, the 100
 * newest) is kept between polls, until the book announces a change.
 */
export class WebData {
  private readonly latency = new Map<string, Latency>();
  /** What the views derive from the bans in force, worked out again only after a ban or unban. */
  private live: LiveBans | null = null;

  constructor(
    private readonly s: WebSources,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The book announced a ban or an unban (expiries included). Until then
   * the bans in force are what they were, and so is what the views derive
   * from them: with 100,000 bans, copying and counting them cost 40 ms of
   * CPU a poll, ten open pages a fifth of a core, taken from the ingest path.
   */
  bansChanged(): void {
    this.live = null;
  }

  private liveBans(): LiveBans {
    // The count as well: a restore (a node taking over) fills the book without announcing each ban.
    if (this.live && this.live.live.length === this.s.activeCount()) return this.live;
    const live = this.s.active();
    const perJail = new Map<string, number>();
    const ips = new Set<string>();
    for (const b of live) {
      perJail.set(b.jail, (perJail.get(b.jail) ?? 0) + 1);
      ips.add(b.ip);
    }
    return (this.live = { live, perJail, ips, newest: newestOf(live, 100) });
  }

  /** The fleet said a host answered an operation (FleetDispatcher 'settled'). */
  onSettled(host: string, latencyMs: number): void {
    let l = this.latency.get(host);
    if (!l) this.latency.set(host, (l = { lastMs: 0, sumMs: 0, n: 0, maxMs: 0 }));
    l.lastMs = latencyMs;
    l.sumMs += latencyMs;
    l.n++;
    l.maxMs = Math.max(l.maxMs, latencyMs);
  }

  private series(prefix: string, range: RangeName): SeriesResult {
    const r = RANGES[range];
    const to = Math.floor(this.now() / 60_000) + 1;
    return this.s.history.series(prefix, to - r.minutes, to, r.step);
  }

  /** Active bans with the ledger's state of each on every host. */
  private withHosts(b: ActiveBan) {
    const hosts = this.s.ledger.hostsOf(b.jail, b.ip);
    return { jail: b.jail, ip: b.ip, since: b.since, until: b.until, count: b.count, hosts, state: banState(hosts) };
  }

  overview(range: RangeName, q?: string): unknown {
    const match = q ? addressMatcher(q) : null;
    if (q && !match) return { error: `not an address or network: ${JSON.stringify(q)}` };
    // The jails' own list, live: a ban shows on the next poll, an unban disappears on it.
    const { live, perJail, newest: unfiltered } = this.liveBans();
    const newest = match ? newestOf(live.filter((b) => match(b.ip)), 100) : unfiltered;
    // The ledger's tally counts the bans its rows want; a ban in force with no row has no host in its scope.
    const tally = this.s.ledger.banStates();
    const withRows = tally.acknowledged + tally.pending + tally.failed;
    const states: Record<BanState, number> = { ...tally, 'no-hosts': Math.max(0, live.length - withRows) };
    return {
      node: this.s.node,
      now: this.now(),
      range,
      active: live.length,
      states,
      jails: this.s.jails().map((j) => ({
        jail: j.jail,
        filter: j.filter,
        currentlyFailed: j.currentlyFailed,
        totalFailed: j.totalFailed,
        currentlyBanned: perJail.get(j.jail) ?? 0,
        totalBanned: j.totalBanned,
        scope: j.scope,
      })),
      bans: newest.map((b) => this.withHosts(b)),
      failures: this.series('failures|', range),
      banSeries: this.series('bans|', range),
    };
  }

  attackers(q: string | undefined, limit = 100): unknown {
    const match = q ? addressMatcher(q) : undefined;
    if (q && !match) return { error: `not an address or network: ${JSON.stringify(q)}` };
    const banned = this.liveBans().ips;
    const list = this.s.history.attackers(limit, match ?? undefined);
    return {
      now: this.now(),
      total: this.s.history.store.attackerCount(),
      attackers: list.map((a) => ({
        ip: a.ip,
        first: a.first,
        last: a.last,
        failures: a.failures,
        jails: a.jails,
        servers: Object.keys(a.origins).length,
        origins: a.origins,
        users: Object.keys(a.users),
        banned: banned.has(a.ip),
      })),
    };
  }

  attacker(ipText: string): unknown {
    const ip = canonicalIp(ipText.trim());
    if (!ip) return { error: `not an address: ${JSON.stringify(ipText)}` };
    const h = this.s.history.attacker(ip);
    return {
      now: this.now(),
      ip,
      summary: h.attacker,
      bans: this.liveBans().live.filter((b) => b.ip === ip).map((b) => this.withHosts(b)),
      events: h.events,
      lines: h.lines,
    };
  }

  /** Messages per mail server: from the senders' counters, named after fleet.conf where the address is a fleet host. */
  ingest(range: RangeName): unknown {
    const now = this.now();
    const byAddress = new Map(this.s.hosts().map((h) => [canonicalIp(h.address) ?? h.address, h.name]));
    const last = this.s.history.lastChanges('sender.received|');
    const counts = new Map(this.s.senders().map((c) => [c.name, c]));
    const names = new Set([...counts.keys(), ...last.keys()]);
    const senders = [...names].map((address) => {
      const c = counts.get(address);
      const lastAt = last.get(address) ?? null;
      return {
        address,
        host: byAddress.get(address) ?? null,
        received: c?.received ?? 0,
        parsed: c?.parsed ?? 0,
        dropped: c ? Object.values(c.dropped).reduce((a, b) => a + b, 0) : 0,
        last: lastAt,
        silent: lastAt !== null && now - lastAt > SILENT_MS,
      };
    });
    // Fleet hosts never heard from are listed too: a server that never forwarded is the one to look at.
    for (const [address, host] of byAddress) {
      if (!names.has(address)) senders.push({ address, host, received: 0, parsed: 0, dropped: 0, last: null, silent: true });
    }
    senders.sort((a, b) => Number(b.silent) - Number(a.silent) || b.received - a.received);
    return { now, range, senders, series: this.series('sender.received|', range) };
  }

  push(): unknown {
    return {
      now: this.now(),
      hosts: this.s.hosts().map((h) => {
        const l = this.latency.get(h.name);
        return { ...h, latency: l ? { lastMs: l.lastMs, avgMs: l.sumMs / l.n, maxMs: l.maxMs, samples: l.n } : null };
      }),
    };
  }

  listeners(range: RangeName): unknown {
    return {
      now: this.now(),
      range,
      sources: this.s.sources(),
      senders: this.s.senders().slice(0, 200),
      received: this.series('source.received|', range),
      parsed: this.series('source.parsed|', range),
      dropped: this.series('source.dropped|', range),
    };
  }
}

/**
 * The `n` newest of `bans`, newest first, without sorting them all: each
 * ban newer than the n-th so far goes in at its place (binary search). Read
 * from the end, since the book holds bans oldest first: the first n read are
 * then the newest and every other ban costs one comparison. (Sorting the
 * kept 100 again for each ban, as this did before, cost 700 ms a poll with
 * 100,000 bans.)
 */
export function newestOf<T extends { since: number }>(bans: readonly T[], n: number): T[] {
  const out: T[] = [];
  for (let i = bans.length - 1; i >= 0; i--) {
    const b = bans[i]!;
    if (out.length === n && b.since <= out[n - 1]!.since) continue;
    let lo = 0;
    let hi = out.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (out[mid]!.since >= b.since) lo = mid + 1;
      else hi = mid;
    }
    out.splice(lo, 0, b);
    if (out.length > n) out.pop();
  }
  return out;
}

/** An address or a network (CIDR) typed in the search box, as a test of addresses. */
export function addressMatcher(q: string): ((ip: string) => boolean) | null {
  const t = q.trim();
  const ip = canonicalIp(t);
  if (ip) return (x) => x === ip;
  const c = parseCidr(t);
  if (!c) return null;
  return (x) => {
    const a = parseIp(x);
    return a !== null && cidrContains(c, a);
  };
}
