import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { registerJailHandlers } from '../control/jail-handlers.js';
import { ControlServer } from '../control/control-server.js';
import { FleetDispatcher, type SettledEvent } from '../fleet/fleet-dispatcher.js';
import { BanBook, type BanEvent } from '../bans/ban-book.js';
import type { FilterMatch } from '../filters/filter.js';
import { LossLog, type FilterLosses } from '../filters/filter-losses.js';
import { BANS_SOURCE } from '../config/jail-config.js';
import { JailManager } from '../jails/jail-manager.js';
import type { ActionSpec } from '../config/action-reader.js';
import { formatListenAddress } from '../config/values.js';
import { canonicalIp } from '../net/address.js';
import { CidrSet } from '../net/cidr-set.js';
import { JournalFollower, combineJournalMatches } from '../sources/journal/journal-follower.js';
import { FleetSenderPolicy } from '../sources/sender-policy.js';
import { SyslogListeners } from '../sources/syslog-listeners.js';
import { STATE_FILE, SqliteStateStore } from '../state/sqlite-state-store.js';
import { BanDelay } from './ban-delay.js';
import { loadConfiguration, type Configuration, type ResolvedJail } from './configuration.js';
import { createLogger } from './logger.js';
import { Metrics, type MessageCounts } from './metrics.js';
import { Pipeline, type PipelineJail } from './pipeline.js';
import { StatusPage } from '../web/status-page.js';
import type { JailStatus } from '../jails/jail-status.js';

type ClusterModule = typeof import('../cluster/cluster-node.js');

export interface ServiceOptions {
  confDir: string;
  /** Defaults to the logger `[fleetban] loglevel` asks for, on stdout. */
  logger?: Logger;
}


/**
 * fleetban running: every stage of docs/ARCHITECTURE.md's flow wired together.
 *
 *   listeners, journal -> pipeline (filters) -> jails -> state -> fleet
 *
 * Start order is chosen so nothing is lost: the state and the jails come
 * back first (bans that ended while down are lifted), the fleet connects,
 * and only then do the sources open, so no failure arrives before there is
 * somewhere to count it. Stop runs the other way round.
 */
export class Service {
  readonly state: SqliteStateStore;
  /** The ban stage: every active ban, committed first, announced once to the fleet, recidive and metrics. */
  readonly book: BanBook;
  readonly jails: JailManager;
  readonly fleet: FleetDispatcher;
  readonly pipeline: Pipeline<FilterMatch>;
  readonly listeners: SyslogListeners;
  readonly journal: JournalFollower;
  readonly control: ControlServer;
  readonly metrics: Metrics;
  /** The status page and its per-minute history (src/web/, src/history/). */
  readonly page: StatusPage;
  /** With `[state] backend = postgresql`: this node's part in the cluster. */
  readonly cluster: ClusterNode | undefined;
  private readonly delay: BanDelay;
  /** The running configuration and what is derived from it; reload swaps all three. */
  private config: Configuration;
  private actions: Map<string, ActionSpec[]>;
  /** The jails' central actions (`central_action =`), run on this host once per ban. */
  private centralActions: Map<string, ActionSpec[]>;
  private policy: FleetSenderPolicy;
  private readonly opCounts = new Map<string, number>();
  private readonly banCounts = new Map<string, number>();
  private reloading: Promise<unknown> | undefined;

  /** Build every stage; nothing listens or connects until start(). */
  private constructor(
    config: Configuration,
    readonly logger: Logger,
    cluster: ClusterModule | undefined,
  ) {
    this.config = config;
    this.actions = actionIndex(config.jails);
    this.centralActions = centralActionIndex(config.jails);
    this.policy = senderPolicy(config);
    this.state = SqliteStateStore.open(join(config.service.stateDir, STATE_FILE), { logger, node: config.service.state.node });
    const st = config.service.state;
    this.cluster =
      cluster && st.backend === 'postgresql' && st.url
        ? new cluster.ClusterNode({
            config: { url: st.url, node: st.node, passwordFile: st.passwordFile, leaseMs: st.leaseMs, standaloneMs: st.standaloneMs },
            logger,
            engine: {
              db: this.state.db,
              startEngine: async () => {
                await this.jails.start();
                await this.jails.resolveIgnoreNames();
                this.fleet.start();
              },
              count: (jail, match, ev) => this.jails.onMatch(jail, match, ev),
              maxFindTimeMs: () => Math.max(600_000, ...this.config.jails.map((j) => j.config.findTime * 1000)),
              reconcile: () => this.fleet.reconcileAll(),
              adopt: async (ban, history) => (await this.book.commit(ban, history)).created,
            },
          })
        : undefined;
    // The jails decide bans; the book commits and announces them; the fleet
    // pushes what the book announces and reconciles hosts with the book.
    this.book = new BanBook({ state: this.state, logger });
    this.jails = new JailManager({
      state: this.state,
      book: this.book,
      jails: config.jails.map((j) => j.config),
      neverBan: neverBanList(config),
      dbPurgeAge: config.service.dbPurgeAge,
      logger,
    });
    this.fleet = new FleetDispatcher({
      hosts: config.hosts,
      actions: (jail) => this.actions.get(jail) ?? [],
      ledger: this.state.ledger({ epoch: 1 }),
      logger,
      reconcileIntervalMs: config.service.reconcileInterval * 1000,
      activeBans: () => this.book.active(),
      mayPush: this.cluster ? () => this.cluster!.mayPush() : undefined,
      central: { actions: (jail) => this.centralActions.get(jail) ?? [], jails: () => [...this.centralActions.keys()] },
    });
    this.book.setAudience((b) => this.fleet.audience(b));
    // In a cluster the fleet hears of a ban once PostgreSQL has it.
    this.book.subscribe((e) => (this.cluster ? this.cluster.afterWrite(() => this.fleet.hear(e)) : this.fleet.hear(e)));
    this.pipeline = new Pipeline<FilterMatch>(pipelineJails(config.jails), (jail, match, ev) => {
      this.page.history.onMatch(jail, match, ev);
      if (this.cluster) this.cluster.onMatch(jail, match, ev);
      else this.jails.onMatch(jail, match, ev);
    }, logger);
    this.wireFilters(config.jails, []);
    this.listeners = new SyslogListeners(config.service.listen, this.pipeline, this.policy, logger);
    const journal = config.service.journal;
    this.journal = new JournalFollower(
      // No jail reads the journal: leave the follower off rather than read every entry for nobody.
      journalReaders(config).length > 0 ? journal : { ...journal, enabled: 'no' },
      this.pipeline,
      {
        matches: journalMatches(config),
        // A cursor only means something in the journal it came from.
        cursors: this.state.cursorStore(`journal:${journal.directory ?? journal.file ?? 'local'}`),
        originOf: (hostname) => this.policy.originOf('', hostname),
        logger,
        // A cursor is saved only once the entries before it are counted.
        settled: () => this.pipeline.flush(),
      },
    );
    this.control = new ControlServer({ path: config.service.socket, logger });
    this.metrics = new Metrics({
      sources: () => this.sourceCounters(),
      senders: () => Object.entries(this.listeners.stats().senders).map(([name, c]) => ({ name, ...c })),
      failures: () =>
        [...this.pipeline.stats.failures].map(([k, count]) => {
          const [jail, filter] = k.split('\u0000') as [string, string];
          return { jail, filter, count };
        }),
      activeBans: () => countBy(this.book.active(), (b) => b.jail).map(([jail, count]) => ({ jail, count })),
      banEvents: () =>
        [...this.banCounts].map(([k, count]) => {
          const [jail, event, reason] = k.split('\u0000') as [string, 'ban' | 'unban', string];
          return { jail, event, reason, count };
        }),
      hostOps: () =>
        [...this.opCounts].map(([k, count]) => {
          const [host, op, outcome] = k.split('\u0000') as [string, string, string];
          return { host, op, outcome, count };
        }),
      hosts: () => this.fleet.hosts().map((h) => ({ host: h.name, connected: h.connected, pending: h.pending })),
      journalRestarts: () => this.journal.state().restarts,
      filterLosses: () => this.filterLosses(),
      cluster: () => {
        const c = this.cluster?.status();
        return c && { node: c.node, leader: c.role === 'leader', degraded: c.degraded, forwarded: c.forwarded, backlog: c.backlog };
      },
    });
    this.delay = new BanDelay(this.metrics.banDelay);
    this.page = new StatusPage({
      config: config.service.web,
      stateFile: join(config.service.stateDir, STATE_FILE),
      controlSocket: config.service.socket,
      node: config.service.state.node,
      jails: () => this.jails.status() as JailStatus[],
      ledger: this.state.ledger(),
      active: () => [...this.book.active()],
      activeCount: () => this.book.size(),
      hosts: () => this.fleet.hosts(),
      sources: () => this.sourceCounters(),
      senders: () => Object.entries(this.listeners.stats().senders).map(([name, c]) => ({ name, ...c })),
      logger,
    });
    this.fleet.on('settled', (e: SettledEvent) => this.page.data.onSettled(e.host, e.latencyMs));
    // The page's history hears the same announcement as everyone else.
    this.book.subscribe((e) => {
      this.page.data.bansChanged();
      if (e.kind === 'ban') this.page.history.onBan(e.ban);
      else this.page.history.onUnban(e.ban.jail, e.ban.ip, e.reason);
    });
    this.book.subscribe((e) => this.countBanEvent(e));
    this.fleet.on('settled', (e: SettledEvent) => this.onSettled(e));
  }

  static async start(o: ServiceOptions): Promise<Service> {
    const config = loadConfiguration(o.confDir);
    // The cluster module brings the PostgreSQL client (pg, ~30-70 ms to load):
    // a node on SQLite, the shipped configuration, never pays for it.
    const cluster = config.service.state.backend === 'postgresql' ? await import('../cluster/cluster-node.js') : undefined;
    const service = new Service(config, o.logger ?? createLogger(config.service.logLevel), cluster);
    try {
      await service.open();
    } catch (err) {
      await service.stop().catch(() => undefined);
      throw err;
    }
    return service;
  }

  private async open(): Promise<void> {
    const { service } = this.config;
    if (this.cluster) {
      // The jails and the fleet start when this node leads (ClusterNode.takeOver).
      await this.cluster.open();
    } else {
      await this.jails.start();
      await this.jails.resolveIgnoreNames();
      this.fleet.start();
    }
    await this.control.listen();
    registerJailHandlers(this.control, {
      jails: this.jails,
      book: this.book,
      ledger: this.state.ledger({ epoch: 1 }),
      reload: () => this.reload(),
      statusSections: () => this.statusSections(),
      filterLosses: () => this.filterLosses(),
    });
    this.control.handle('hosts', () => this.fleet.hosts());
    this.cluster?.installRoutes(this.control);
    await this.listeners.start();
    await this.journal.start();
    if (service.metrics.listen) await this.metrics.listen(service.metrics.listen, this.page.handlerFor(service.metrics.listen));
    await this.page.start(service.metrics.listen);
    this.logger.child({ component: 'service' }).info(
      {
        udp: service.listen.udp.map(formatListenAddress),
        tcp: service.listen.tcp.map(formatListenAddress),
        tls: service.listen.tls.map(formatListenAddress),
        jails: this.config.jails.map((j) => j.config.name),
        hosts: this.config.hosts.map((h) => h.name),
        socket: service.socket,
      },
      'fleetban running',
    );
  }

  /** The metrics' share of the announcement: the ban delay starts, and bans and unbans are counted. */
  private countBanEvent(e: BanEvent): void {
    if (e.kind === 'ban' && !e.remote) this.delay.started(e.ban.jail, e.ban.ip, e.hosts, Date.now());
    const reason = e.kind === 'unban' ? e.reason : e.remote ? 'remote' : e.ban.manual ? 'manual' : 'decided';
    const key = `${e.ban.jail}\u0000${e.kind}\u0000${reason}`;
    this.banCounts.set(key, (this.banCounts.get(key) ?? 0) + 1);
  }

  private onSettled(e: SettledEvent): void {
    const key = `${e.host}\u0000${e.want}\u0000${e.ok ? 'applied' : 'failed'}`;
    this.opCounts.set(key, (this.opCounts.get(key) ?? 0) + 1);
    if (e.ok && e.want === 'ban') this.delay.acknowledged(e.jail, e.ip, e.host, Date.now());
  }

  // ---- reload ----------------------------------------------------------

  /**
   * Re-read the configuration. Everything is read and compiled first; a
   * configuration with an error is refused (the error is thrown, the running
   * one stays). Listeners, connections, failures and bans are kept.
   */
  async reload(): Promise<{ jails: string[]; hosts: string[] }> {
    while (this.reloading) await this.reloading.catch(() => undefined);
    const run = this.doReload();
    this.reloading = run;
    try {
      return await run;
    } finally {
      this.reloading = undefined;
    }
  }

  private async doReload(): Promise<{ jails: string[]; hosts: string[] }> {
    const next = loadConfiguration(this.config.confDir);
    const policy = senderPolicy(next);
    await this.listeners.update(next.service.listen, policy);
    this.policy = policy;
    await this.journal.updateMatches(journalMatches(next));
    this.actions = actionIndex(next.jails);
    this.centralActions = centralActionIndex(next.jails);
    this.jails.reload(next.jails.map((j) => j.config), neverBanList(next));
    await this.jails.resolveIgnoreNames();
    this.wireFilters(next.jails, this.config.jails);
    this.pipeline.setJails(pipelineJails(next.jails));
    this.fleet.reload(next.hosts);
    this.config = next;
    const out = { jails: next.jails.map((j) => j.config.name), hosts: next.hosts.map((h) => h.name) };
    this.logger.info(out, 'configuration reloaded');
    return out;
  }

  /**
   * Each jail's filter logs the lines it loses under the jail's name, keeps
   * counting where the filter it replaces (reload) stopped, and hands the
   * failures its retry worker finds late to the pipeline.
   */
  private wireFilters(jails: ResolvedJail[], previous: ResolvedJail[]): void {
    for (const j of jails) {
      const f = j.filter;
      if (!f) continue;
      const name = j.config.name;
      const old = previous.find((p) => p.config.name === name)?.filter;
      if (old && old !== f) f.adoptLosses(old);
      f.lossLog ??= new LossLog(this.logger.child({ component: 'filter', jail: name, filter: f.name }));
      f.onLateResult = (ev, r) => this.pipeline.deliverLate(name, f.name, r, ev);
    }
  }

  /** Lines each jail's filter could not use (filter-losses.ts), for status and metrics. */
  private filterLosses(): ({ jail: string; filter: string } & FilterLosses)[] {
    return this.config.jails.flatMap((j) => (j.filter ? [{ jail: j.config.name, filter: j.filter.name, ...j.filter.losses }] : []));
  }

  // ---- stop ------------------------------------------------------------

  /**
   * Stop accepting, match what is queued, write it down, close the SSH
   * sessions (bans stay on the servers), close the state.
   */
  async stop(): Promise<void> {
    await this.listeners.stop().catch((err: Error) => this.logger.error({ err: err.message }, 'closing listeners'));
    await this.journal.stop().catch((err: Error) => this.logger.error({ err: err.message }, 'stopping the journal follower'));
    await this.pipeline.flush();
    await this.jails.stop();
    this.book.stop();
    await this.fleet.stop();
    await this.cluster?.close();
    await this.control.close();
    await this.metrics.close();
    await this.page.stop();
    this.state.close();
    this.logger.info('fleetban stopped');
  }

  // ---- status and counters ---------------------------------------------

  private sourceCounters(): MessageCounts[] {
    const out: MessageCounts[] = Object.entries(this.listeners.stats().sources).map(([name, c]) => ({ name, ...c }));
    const j = this.journal.state();
    if (j.enabled) out.push({ name: 'journal', received: j.entries + j.skipped, parsed: j.entries, dropped: { parse: j.skipped } });
    return out;
  }

  statusSections(): Record<string, unknown> {
    const stats = this.listeners.stats();
    return {
      listeners: stats.sources,
      connections: stats.connections,
      journal: this.journal.state(),
      pipeline: { events: this.pipeline.stats.events, queued: this.pipeline.depth, dropped: this.pipeline.dropped },
      // Lines a jail's filter could not use: ambiguous address, too long, too slow (and retried off the hot path).
      filters: this.filterLosses(),
      hosts: this.fleet.hosts(),
    };
  }
}

function centralActionIndex(jails: ResolvedJail[]): Map<string, ActionSpec[]> {
  return new Map(jails.map((j) => [j.config.name, j.centralActions]));
}

function actionIndex(jails: ResolvedJail[]): Map<string, ActionSpec[]> {
  return new Map(jails.map((j) => [j.config.name, j.actions]));
}

function pipelineJails(jails: ResolvedJail[]): PipelineJail<FilterMatch>[] {
  const out: PipelineJail<FilterMatch>[] = [];
  for (const j of jails) {
    if (!j.filter) continue;
    const logSources = j.config.sources.filter((s) => s !== BANS_SOURCE);
    out.push({
      name: j.config.name,
      filterName: j.filter.name,
      sources: logSources.length > 0 ? new Set(logSources) : null,
      filter: j.filter,
    });
  }
  return out;
}

function journalReaders(config: Configuration): ResolvedJail[] {
  return config.jails.filter((j) => j.filter && (j.config.sources.length === 0 || j.config.sources.includes('journal')));
}

/** journalctl matches: those of the jails that read the journal, OR-ed (none: every entry). */
function journalMatches(config: Configuration): string[][] {
  return combineJournalMatches(journalReaders(config).map((j) => j.filter!.journalmatch));
}

function senderPolicy(config: Configuration): FleetSenderPolicy {
  return new FleetSenderPolicy({
    allowedSenders: config.service.listen.allowedSenders,
    hosts: config.hosts,
    senderTimezones: config.service.listen.senderTimezones,
  });
}

/**
 * Never banned, whatever a log line says: loopback, this host's own
 * addresses, and every fleet host's address. A line that tries is counted
 * as ignored by the jail.
 */
function neverBanList(config: Configuration): CidrSet {
  const set = new CidrSet();
  set.add('127.0.0.0/8');
  set.add('::1');
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.address.startsWith('fe80:')) set.add(a.address);
  }
  for (const h of config.hosts) {
    const ip = canonicalIp(h.address);
    if (ip) set.add(ip);
  }
  return set;
}

function countBy<T>(items: Iterable<T>, key: (t: T) => string): [string, number][] {
  const m = new Map<string, number>();
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
  return [...m];
}
