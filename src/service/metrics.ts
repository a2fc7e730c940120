import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ListenAddress } from '../config/service-config.js';

export interface MessageCounts {
  /** Listener (`udp 0.0.0.0:514`, `journal`) or sender address. */
  name: string;
  received: number;
  parsed: number;
  dropped: Record<string, number>;
  /** UDP listeners: datagrams the kernel dropped on the socket (receive buffer full), never received by fleetban. */
  kernelDrops?: number;
}

/**
 * Where the metrics read their values at scrape time. The hot paths keep
 * plain counters of their own; nothing is done per message for Prometheus.
 */
export interface MetricsProvider {
  /** Per listener (and the journal): received, parsed, and dropped by reason. */
  sources(): MessageCounts[];
  /** The same per sending address (at most 10,000 of them; the rest under `other`). */
  senders(): MessageCounts[];
  failures(): { jail: string; filter: string; count: number }[];
  activeBans(): { jail: string; count: number }[];
  /** Bans and unbans the ban book announced, by jail, event and reason (unbans only). */
  banEvents(): { jail: string; event: 'ban' | 'unban'; reason: string; count: number }[];
  hostOps(): { host: string; op: string; outcome: string; count: number }[];
  hosts(): { host: string; connected: boolean; pending: number }[];
  journalRestarts(): number;
  /** Lines each jail's filter could not use, by kind (src/filters/filter-losses.ts). */
  filterLosses?(): { jail: string; filter: string; ambiguous: number; tooLong: number; tooSlow: number; retried: number; hostName: number; multilineEvicted?: number }[];
  /** In a cluster: this node's role and its failures forwarded to PostgreSQL. */
  cluster?(): { node: string; leader: boolean; degraded: boolean; forwarded: number; backlog: number } | undefined;
}

type PromClient = typeof import('prom-client');

/** Where the ban delays go (a prom-client Histogram once it is loaded). */
export interface DelayObserver {
  observe(seconds: number): void;
}

/** Delays observed before prom-client is loaded, kept for it (a bounded number). */
const EARLY_DELAYS = 10_000;

/** Counters read from a provider: reset and set from the source of truth on each scrape. */
function fromProvider<L extends string>(
  prom: PromClient,
  reg: Registry,
  name: string,
  help: string,
  labelNames: L[],
  read: () => { labels: Record<L, string>; value: number }[],
  kind: 'counter' | 'gauge',
): void {
  const collect = function (this: Counter<L> | Gauge<L>) {
    this.reset();
    for (const { labels, value } of read()) {
      if (kind === 'counter') (this as Counter<L>).inc(labels, value);
      else (this as Gauge<L>).set(labels, value);
    }
  };
  if (kind === 'counter') new prom.Counter({ name, help, labelNames, registers: [reg], collect });
  else new prom.Gauge({ name, help, labelNames, registers: [reg], collect });
}

/**
 * fleetban's Prometheus metrics. Names follow Prometheus conventions:
 * `_total` for counters, base units (seconds).
 */
export class Metrics {
  /** Delay from the failure that crossed maxretry to the ban acknowledged on every host in scope. */
  readonly banDelay: DelayObserver = {
    observe: (seconds) => {
      if (this.histogram) this.histogram.observe(seconds);
      else if (this.early.length < EARLY_DELAYS) this.early.push(seconds);
    },
  };
  private histogram?: Histogram;
  private early: number[] = [];
  private loading?: Promise<Registry>;
  private server?: Server;

  constructor(private readonly provider: MetricsProvider) {}

  /**
   * prom-client and the registry, built on first use (listen or text).
   * prom-client with its dependencies takes a couple of hundred
   * milliseconds to load: the service opens its listeners first.
   */
  private registry(): Promise<Registry> {
    this.loading ??= import('prom-client').then((prom) => this.build(prom));
    return this.loading;
  }

  private build(prom: PromClient): Registry {
    const provider = this.provider;
    const reg = new prom.Registry();
    prom.collectDefaultMetrics({ register: reg, prefix: 'fleetban_process_' });
    // Per source and per sender as separate families: summing either gives the total once.
    for (const [family, label, read] of [
      ['fleetban_messages', 'source', () => provider.sources()],
      ['fleetban_sender_messages', 'sender', () => provider.senders()],
    ] as const) {
      fromProvider(prom, reg, `${family}_received_total`, `Syslog messages and journal entries received, by ${label}.`, [label],
        () => read().map((m) => ({ labels: { [label]: m.name } as Record<typeof label, string>, value: m.received })), 'counter');
      fromProvider(prom, reg, `${family}_parsed_total`, `Messages parsed and handed to the filters, by ${label}.`, [label],
        () => read().map((m) => ({ labels: { [label]: m.name } as Record<typeof label, string>, value: m.parsed })), 'counter');
      fromProvider(prom, reg, `${family}_dropped_total`, `Messages dropped, by ${label} and reason (not-allowed, too-long, framing, parse, overload).`, [label, 'reason'],
        () => read().flatMap((m) =>
          Object.entries(m.dropped).map(([reason, value]) => ({ labels: { [label]: m.name, reason } as Record<typeof label | 'reason', string>, value }))), 'counter');
    }
    fromProvider(prom, reg, 'fleetban_messages_kernel_dropped_total',
      'UDP datagrams the kernel dropped before fleetban could read them (the socket receive buffer was full), by listener: the socket\'s own count, not part of received.', ['source'],
      () => provider.sources().flatMap((m) => (m.kernelDrops === undefined ? [] : [{ labels: { source: m.name }, value: m.kernelDrops }])), 'counter');
    fromProvider(prom, reg, 'fleetban_failures_total', 'Failures matched, by jail and filter.', ['jail', 'filter'],
      () => provider.failures().map((f) => ({ labels: { jail: f.jail, filter: f.filter }, value: f.count })), 'counter');
    fromProvider(prom, reg, 'fleetban_bans_active', 'Bans in force, by jail.', ['jail'],
      () => provider.activeBans().map((b) => ({ labels: { jail: b.jail }, value: b.count })), 'gauge');
    fromProvider(prom, reg, 'fleetban_ban_events_total', 'Bans and unbans announced, by jail, event (ban, unban) and reason (decided, manual, remote; expired, manual, start, reload).', ['jail', 'event', 'reason'],
      () => provider.banEvents().map((b) => ({ labels: { jail: b.jail, event: b.event, reason: b.reason }, value: b.count })), 'counter');
    fromProvider(prom, reg, 'fleetban_host_operations_total', 'Ban and unban operations per host, by outcome (applied, failed).', ['host', 'op', 'outcome'],
      () => provider.hostOps().map((o) => ({ labels: { host: o.host, op: o.op, outcome: o.outcome }, value: o.count })), 'counter');
    fromProvider(prom, reg, 'fleetban_host_connected', '1 when the SSH session to the host is up.', ['host'],
      () => provider.hosts().map((h) => ({ labels: { host: h.host }, value: h.connected ? 1 : 0 })), 'gauge');
    fromProvider(prom, reg, 'fleetban_host_pending_operations', 'Operations recorded for the host and not yet acknowledged.', ['host'],
      () => provider.hosts().map((h) => ({ labels: { host: h.host }, value: h.pending })), 'gauge');
    fromProvider(prom, reg, 'fleetban_journal_restarts_total', 'Times the journalctl follower was restarted.', [],
      () => [{ labels: {}, value: provider.journalRestarts() }], 'counter');
    // Lines the filters saw but could not use: every kind of loss after parsing, per jail.
    fromProvider(prom, reg, 'fleetban_filter_lines_lost_total',
      'Lines a jail\'s filter could not use, by reason: ambiguous (the address can be read two ways: no ban), too-long (only the first 32 KiB matched), too-slow (a regex did not finish it even in the retry worker), multiline-evicted (a multi-line filter\'s memory was full: a connection or server buffer was forgotten before it ended).',
      ['jail', 'filter', 'reason'],
      () => (provider.filterLosses?.() ?? []).flatMap((l) => [
        { labels: { jail: l.jail, filter: l.filter, reason: 'ambiguous' }, value: l.ambiguous },
        { labels: { jail: l.jail, filter: l.filter, reason: 'too-long' }, value: l.tooLong },
        { labels: { jail: l.jail, filter: l.filter, reason: 'too-slow' }, value: l.tooSlow },
        { labels: { jail: l.jail, filter: l.filter, reason: 'multiline-evicted' }, value: l.multilineEvicted ?? 0 },
      ]), 'counter');
    fromProvider(prom, reg, 'fleetban_filter_host_names_total',
      'Lines whose failregex matched a host name, not an address (usedns): names from logs are never resolved, so these banned nobody.',
      ['jail', 'filter'],
      () => (provider.filterLosses?.() ?? []).map((l) => ({ labels: { jail: l.jail, filter: l.filter }, value: l.hostName })), 'counter');
    fromProvider(prom, reg, 'fleetban_filter_lines_retried_total',
      'Lines the hot path\'s regex time limit cut and handed to the retry worker (matched there unless counted as too-slow).',
      ['jail', 'filter'],
      () => (provider.filterLosses?.() ?? []).map((l) => ({ labels: { jail: l.jail, filter: l.filter }, value: l.retried })), 'counter');
    const cluster = () => {
      const c = provider.cluster?.();
      return c ? [c] : [];
    };
    fromProvider(prom, reg, 'fleetban_cluster_leader', '1 on the node that leads the cluster (pushes to the hosts).', ['node'],
      () => cluster().map((c) => ({ labels: { node: c.node }, value: c.leader ? 1 : 0 })), 'gauge');
    fromProvider(prom, reg, 'fleetban_cluster_degraded', '1 while PostgreSQL cannot be reached: decisions and failures wait locally.', ['node'],
      () => cluster().map((c) => ({ labels: { node: c.node }, value: c.degraded ? 1 : 0 })), 'gauge');
    fromProvider(prom, reg, 'fleetban_cluster_failures_forwarded_total', 'Failures this node wrote to PostgreSQL for the leader to count.', ['node'],
      () => cluster().map((c) => ({ labels: { node: c.node }, value: c.forwarded })), 'counter');
    fromProvider(prom, reg, 'fleetban_cluster_backlog', 'Failures of this node waiting to be written to PostgreSQL.', ['node'],
      () => cluster().map((c) => ({ labels: { node: c.node }, value: c.backlog })), 'gauge');
    const histogram: Histogram = new prom.Histogram({
      name: 'fleetban_ban_delay_seconds',
      help: 'Delay from the failure that crossed maxretry to the ban acknowledged on every host in scope.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [reg],
    });
    for (const d of this.early) histogram.observe(d);
    this.early = [];
    this.histogram = histogram;
    return reg;
  }

  async text(): Promise<string> {
    return (await this.registry()).metrics();
  }

  /**
   * Serve /metrics; rejects naming the address when it cannot bind. `pages`
   * answers the other paths it knows (the status page) and returns false
   * for the rest.
   */
  async listen(addr: ListenAddress, pages?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<void> {
    const registry = await this.registry();
    const server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        if (pages?.(req, res)) return;
        res.writeHead(404).end('try /metrics\n');
        return;
      }
      this.text().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (err: Error) => res.writeHead(500).end(`${err.message}\n`),
      );
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`metrics: cannot listen on ${addr.host}:${addr.port}: ${err.code ?? err.message}`)),
      );
      server.listen(addr.port, addr.host, () => resolve());
    });
  }

  close(): Promise<void> {
    const s = this.server;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => s.close(() => resolve()));
  }
}
