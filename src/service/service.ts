import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { registerJailHandlers } from '../control/jail-handlers.js';
import { ControlServer } from '../control/control-server.js';
import { FleetDispatcher, type SettledEvent } from '../fleet/fleet-dispatcher.js';
import { LedgerStore } from '../fleet/ledger.js';
import { hostsInScope } from '../fleet/scope.js';
import type { FilterMatch } from '../filters/filter.js';
import { BANS_SOURCE } from '../jails/jail-config.js';
import { JailManager, type BanListener } from '../jails/jail-manager.js';
import type { BanDecision, Scope } from '../model/ban-decision.js';
import { canonicalIp } from '../net/address.js';
import { CidrSet } from '../net/cidr-set.js';
import { JournalFollower, combineJournalMatches } from '../sources/journal/journal-follower.js';
import { FleetSenderPolicy } from '../sources/sender-policy.js';
import { SyslogListeners } from '../sources/syslog-listeners.js';
import { StateStore } from '../state/state-store.js';
import { BanDelay } from './ban-delay.js';
import { loadConfiguration, type Configuration, type ResolvedJail } from './configuration.js';
import { createLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { Pipeline, type PipelineJail } from './pipeline.js';

export interface ServiceOptions {
  confDir: string;
  /** Defaults to the logger `[fleetban] loglevel` asks for, on stdout. */
  logger?: Logger;
}

/** The state file inside `[fleetban] statedir`. */
export const STATE_FILE = 'fleetban.sqlite3';

/**
 * fleetban running: every stage of DESIGN.md's flow wired together.
 *
 *   listeners, journal -> pipeline (filters) -> jails -> state -> fleet
 *
 * Start order is chosen so nothing is lost: the state and the jails come
 * back first (bans that ended while down are lifted), the fleet connects,
 * and only then do the sources open, so no failure arrives before there is
 * somewhere to count it. Stop runs the other way round.
 */
export class Service {
  private reloading: Promise<unknown> | undefined;

  private constructor(
    private config: Configuration,
    readonly logger: Logger,
    readonly state: StateStore,
    readonly jails: JailManager,
    readonly fleet: FleetDispatcher,
    readonly pipeline: Pipeline<FilterMatch>,
    readonly listeners: SyslogListeners,
    readonly journal: JournalFollower,
    readonly control: ControlServer,
    readonly metrics: Metrics,
  ) {}

  static async start(o: ServiceOptions): Promise<Service> {
    const config = loadConfiguration(o.confDir);
    const logger = o.logger ?? createLogger(config.service.logLevel);
    const log = logger.child({ component: 'service' });

    const state = StateStore.open(join(config.service.stateDir, STATE_FILE), { logger });
    const ledger = new LedgerStore(state.db);
    const actionsOf = actionIndex(config.jails);

    // The fleet and the jails need each other: the jails announce bans to the
    // fleet, the fleet asks the jails what should be in place. The listener
    // below forwards to `fleet` once it exists.
    let fleet: FleetDispatcher | undefined;
    let delay: BanDelay | undefined;
    let hosts = config.hosts;
    const listener: BanListener = {
      onBan(d: BanDecision) {
        delay?.started(d.jail, d.ip, hostsInScope(hosts, d.scope, d.origins).map((h) => h.name), Date.now());
        fleet!.onBan(d);
      },
      onUnban(jail: string, ip: string, scope: Scope, origins: string[], reason) {
        fleet!.onUnban(jail, ip, scope, origins, reason);
      },
    };
    const jails = new JailManager({
      state,
      jails: config.jails.map((j) => j.config),
      listener,
      neverBan: neverBanList(config),
      dbPurgeAge: config.service.dbPurgeAge,
      logger,
    });
    fleet = new FleetDispatcher({
      hosts: config.hosts,
      actions: (jail) => actionsOf.current.get(jail) ?? [],
      ledger,
      logger,
      reconcileIntervalMs: config.service.reconcileInterval * 1000,
      activeBans: () => jails.activeBans(),
    });

    const pipeline = new Pipeline<FilterMatch>(
      pipelineJails(config.jails),
      (jail, match, ev) => jails.onMatch(jail, match, ev),
      logger,
    );
    const policy = senderPolicy(config);
    const listeners = new SyslogListeners(config.service.listen, pipeline, policy, logger);
    // No jail reads the journal: leave the follower off rather than read every entry for nobody.
    const journalCfg = journalReaders(config).length > 0 ? config.service.journal : { ...config.service.journal, enabled: 'no' as const };
    const journal = new JournalFollower(journalCfg, pipeline, {
      matches: journalMatches(config),
      // A cursor only means something in the journal it came from.
      cursors: state.cursorStore(`journal:${config.service.journal.directory ?? config.service.journal.file ?? 'local'}`),
      originOf: (hostname) => policy.originOf('', hostname),
      logger,
      // A cursor is saved only once the entries before it are counted.
      settled: () => pipeline.flush(),
    });
    const control = new ControlServer({ path: config.service.socket, logger });

    let service: Service | undefined;
    const metrics = new Metrics({
      messages: () => service?.messageCounters() ?? [],
      failures: () =>
        [...pipeline.stats.failures].map(([k, count]) => {
          const [jail, filter] = k.split('\u0000') as [string, string];
          return { jail, filter, count };
        }),
      activeBans: () => countBy(jails.activeBans(), (b) => b.jail).map(([jail, count]) => ({ jail, count })),
      hostOps: () => service?.hostOpCounters() ?? [],
      hosts: () => fleet!.hosts().map((h) => ({ host: h.name, connected: h.connected, pending: h.pending })),
      journalRestarts: () => journal.state().restarts,
    });
    delay = new BanDelay(metrics.banDelay);

    service = new Service(config, logger, state, jails, fleet, pipeline, listeners, journal, control, metrics);
    service.actionIndex = actionsOf;
    service.hostsRef = (h) => {
      hosts = h;
    };
    fleet.on('settled', (e: SettledEvent) => service!.onSettled(e, delay!));

    try {
      jails.start();
      await jails.resolveIgnoreNames();
      fleet.start();
      await control.listen();
      registerJailHandlers(control, {
        jails,
        state,
        reload: () => service!.reload(),
        statusSections: () => service!.statusSections(),
      });
      control.handle('hosts', () => fleet!.hosts());
      await listeners.start();
      await journal.start();
      if (config.service.metrics.listen) await metrics.listen(config.service.metrics.listen);
    } catch (err) {
      await service.stop().catch(() => undefined);
      throw err;
    }
    log.info(
      {
        udp: config.service.listen.udp.map(addr),
        tcp: config.service.listen.tcp.map(addr),
        tls: config.service.listen.tls.map(addr),
        jails: config.jails.map((j) => j.config.name),
        hosts: config.hosts.map((h) => h.name),
        socket: config.service.socket,
      },
      'fleetban running',
    );
    return service;
  }

  // ---- reload ----------------------------------------------------------

  private actionIndex: { current: Map<string, ResolvedJail['actions']> } = { current: new Map() };
  private hostsRef: (h: Configuration['hosts']) => void = () => undefined;

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
    await this.listeners.update(next.service.listen, senderPolicy(next));
    await this.journal.updateMatches(journalMatches(next));
    this.actionIndex.current = actionIndex(next.jails).current;
    this.jails.reload(next.jails.map((j) => j.config), neverBanList(next));
    await this.jails.resolveIgnoreNames();
    this.pipeline.setJails(pipelineJails(next.jails));
    this.hostsRef(next.hosts);
    this.fleet.reload(next.hosts);
    this.config = next;
    const out = { jails: next.jails.map((j) => j.config.name), hosts: next.hosts.map((h) => h.name) };
    this.logger.info(out, 'configuration reloaded');
    return out;
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
    this.jails.stop();
    await this.fleet.stop();
    await this.control.close();
    await this.metrics.close();
    this.state.close();
    this.logger.info('fleetban stopped');
  }

  // ---- status and counters ---------------------------------------------

  private readonly opCounts = new Map<string, number>();

  private onSettled(e: SettledEvent, delay: BanDelay): void {
    const key = `${e.host}\u0000${e.want}\u0000${e.ok ? 'applied' : 'failed'}`;
    this.opCounts.set(key, (this.opCounts.get(key) ?? 0) + 1);
    if (e.ok && e.want === 'ban') delay.acknowledged(e.jail, e.ip, e.host, Date.now());
  }

  hostOpCounters(): { host: string; op: string; outcome: string; count: number }[] {
    return [...this.opCounts].map(([k, count]) => {
      const [host, op, outcome] = k.split('\u0000') as [string, string, string];
      return { host, op, outcome, count };
    });
  }

  messageCounters() {
    const stats = this.listeners.stats();
    return Object.entries(stats.sources).map(([source, c]) => ({
      source,
      sender: '',
      received: c.received,
      parsed: c.parsed,
      dropped: { ...c.dropped },
    }));
  }

  statusSections(): Record<string, unknown> {
    const stats = this.listeners.stats();
    return {
      listeners: stats.sources,
      connections: stats.connections,
      journal: this.journal.state(),
      pipeline: { events: this.pipeline.stats.events, queued: this.pipeline.depth, dropped: this.pipeline.dropped },
      hosts: this.fleet.hosts(),
    };
  }
}

function addr(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

function actionIndex(jails: ResolvedJail[]): { current: Map<string, ResolvedJail['actions']> } {
  return { current: new Map(jails.map((j) => [j.config.name, j.actions])) };
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
