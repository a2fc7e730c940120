import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { ActionFamily, ActionSpec } from '../config/action-reader.js';
import type { FleetDriver, FleetHost } from '../config/fleet-reader.js';
import type { Ban, UnbanReason } from '../bans/ban.js';
import type { BanEvent } from '../bans/ban-book.js';
import type { HostOp } from './host-driver.js';
import { HostConnection, familyName, type SettledOp } from './host-connection.js';
import { FencedError, settle, type Awaitable } from '../state/state-store.js';
import type { LedgerCounts, LedgerRow, LedgerStatus, LedgerStorage, LedgerWant } from './ledger.js';
import { isBanTarget } from './ban-target.js';
import { CENTRAL_HOST } from './local-driver.js';
import { hostInScope, hostsInScope } from './scope.js';

/** One host, as `fleetban hosts` shows it. */
export interface HostStatus {
  name: string;
  address: string;
  driver: FleetDriver;
  groups: string[];
  connected: boolean;
  state: 'connecting' | 'connected' | 'waiting' | 'stopped';
  /** ms since the epoch: connected since, or down since. */
  since: number;
  /** Ledger rows not yet acknowledged / refused by the host / in place. */
  pending: number;
  failed: number;
  applied: number;
  lastError: string | null;
  lastErrorAt: number | null;
}

/** Emitted as 'reconciled' after a host was compared with the active bans (at connect and every interval). */
export interface ReconciledEvent {
  host: string;
  /** Ledger rows changed: bans missing on the host, unbans of bans no longer active. */
  changes: number;
  /** Bans and unbans handed to the host to send. */
  outstanding: number;
}

/** Emitted as 'settled' for every ban or unban a host answered (or that a dry-run logged). */
export interface SettledEvent {
  host: string;
  jail: string;
  ip: string;
  want: LedgerWant;
  ok: boolean;
  error?: string;
  /** From the command being written to the host's answer. */
  latencyMs: number;
}

export interface FleetDispatcherOptions {
  hosts: FleetHost[];
  /** The jail's actions, resolved from its `action =` (see readJailActions). */
  actions: (jail: string) => ActionSpec[];
  /**
   * The per-host ledger, from the state (StateStore.ledger). Every write is
   * waited for before its command is sent, so a slower backend keeps the
   * rule "a row before its command".
   */
  ledger: LedgerStorage;
  logger: Logger;
  reconcileIntervalMs: number;
  /**
   * What should be in place now: the ban book's active bans. The book
   * stores a ban before the fleet hears of it and removes it before the
   * unban is announced, so a reconciliation in between sees the same thing
   * as the ledger.
   */
  activeBans: () => Iterable<Ban>;
  now?: () => number;
  /** The ssh client to run (tests); default `ssh` from PATH. */
  sshPath?: string;
  /** Asked before every push (see HostConnectionDeps.mayPush). */
  mayPush?: () => boolean;
  /**
   * The jails' central actions (`central_action =`), run once per ban on the
   * central host, each by a dispatcher of its own with one pseudo-host
   * `central/NAME` (local-driver.ts): the same ledger, retries and `banned`
   * rows. `jails` lists the jails, to know which actions there are.
   */
  central?: { actions: (jail: string) => ActionSpec[]; jails: () => string[] };
  /** Every ban goes to every host, whatever its scope (the central pseudo-hosts). */
  allScopes?: boolean;
}

interface Pending {
  host: string;
  op: HostOp;
}

/** How long one snapshot of the active bans serves several hosts connecting together. */
const SNAPSHOT_MS = 2000;

/**
 * Pushes ban decisions to the mail servers in their scope and keeps every
 * host's ledger true: rows are written before commands go out, answers
 * settle them, and reconciliation (at connect and every interval) sends what
 * is pending or failed and unbans what is no longer active. Bans stay on the
 * servers when fleetban stops.
 */
export class FleetDispatcher extends EventEmitter {
  private readonly conns = new Map<string, HostConnection>();
  private hostList: FleetHost[];
  private readonly toRecord: Pending[] = [];
  private flushScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly log: Logger;
  /** Bumped by every onBan/onUnban: a snapshot of active bans older than that is stale. */
  private version = 0;
  private snapshot: { version: number; at: number; index: Map<string, Ban> } | undefined;
  private stopped = false;
  /** The ledger's row counts as last read (a slow backend answers `hosts` from here). */
  private lastCounts = new Map<string, LedgerCounts>();
  /** One dispatcher per central action (by actname), each with its pseudo-host `central/NAME`. */
  private readonly central = new Map<string, FleetDispatcher>();

  constructor(private readonly o: FleetDispatcherOptions) {
    super();
    this.now = o.now ?? Date.now;
    this.log = o.logger.child({ component: 'fleet' });
    this.hostList = o.hosts;
  }

  start(): void {
    this.startCentral();
    for (const h of this.hostList) this.addHost(h);
    if (this.o.reconcileIntervalMs > 0) {
      this.timer = setInterval(() => this.reconcileAll(), this.o.reconcileIntervalMs);
      this.timer.unref();
    }
  }

  /**
   * The fleet hosts in a ban's scope, by fleet.conf name: the one place a
   * scope becomes hosts (the ban book announces them and logs them).
   */
  audience(ban: Pick<Ban, 'scope' | 'origins'>): string[] {
    if (this.o.allScopes) return this.hostList.map((h) => h.name);
    return hostsInScope(this.hostList, ban.scope, ban.origins).map((h) => h.name);
  }

  /** The ban book's announcement: push the ban, or the unban, to the hosts it names. */
  hear(e: BanEvent): void {
    if (e.kind === 'ban') this.onBan(e.ban, e.hosts);
    else this.onUnban(e.ban, e.reason, e.hosts);
  }

  /** Record and send a ban to `hosts` (default: those in its scope). */
  onBan(d: Ban, hosts: readonly string[] = this.audience(d)): void {
    for (const c of this.central.values()) c.onBan(d);
    this.version++;
    if (!this.valid(d.jail, d.ip) || !this.hasActions(d.jail)) return;
    const op = opOf(d, 'ban');
    if (this.hostList.length === 0) return this.logWithoutFleet(op);
    for (const host of hosts) this.toRecord.push({ host, op: { ...op, host } });
    this.scheduleFlush();
  }

  /** Record and send the unban of a ban that ended to `hosts` (default: those in its scope). */
  onUnban(b: Pick<Ban, 'jail' | 'ip' | 'scope' | 'origins'>, reason: UnbanReason, hosts: readonly string[] = this.audience(b)): void {
    for (const c of this.central.values()) c.onUnban(b, reason);
    this.version++;
    const { jail, ip } = b;
    if (!this.valid(jail, ip) || !this.hasActions(jail)) return;
    this.log.debug({ jail, ip, reason }, 'unban');
    const op: HostOp = { host: '', op: 'unban', jail, ip, bantime: 0, failures: 0, time: this.now(), fields: {}, until: null, restored: false };
    if (this.hostList.length === 0) return this.logWithoutFleet(op);
    for (const host of hosts) this.toRecord.push({ host, op: { ...op, host } });
    this.scheduleFlush();
  }

  /**
   * fleet.conf was read again: a new host gets every active ban in its
   * scope when it connects; a removed host keeps what it has (with a
   * warning); a changed host reconnects.
   */
  reload(hosts: FleetHost[]): void {
    this.startCentral();
    for (const c of this.central.values()) c.reconcileAll();
    const next = new Map(hosts.map((h) => [h.name, h]));
    for (const [name, conn] of this.conns) {
      if (!next.has(name)) {
        this.log.warn({ host: name }, 'host removed from fleet.conf: its bans stay on it as they are');
        this.conns.delete(name);
        void conn.stop();
      }
    }
    this.hostList = hosts;
    this.snapshot = undefined;
    for (const h of hosts) {
      const conn = this.conns.get(h.name);
      if (!conn) {
        this.log.info({ host: h.name }, 'host added to fleet.conf');
        this.addHost(h);
      } else if (sameConnection(conn.host, h)) {
        const regrouped = conn.host.groups.join(',') !== h.groups.join(',');
        conn.host = h;
        if (regrouped && conn.connected) this.reconcile(conn, false, false);
      } else {
        this.log.info({ host: h.name }, 'host changed in fleet.conf: reconnecting');
        this.conns.delete(h.name);
        void conn.stop();
        this.addHost(h);
      }
    }
  }

  hosts(): HostStatus[] {
    const read = this.o.ledger.counts();
    if (read instanceof Promise) this.guard(read.then((c) => void (this.lastCounts = c)));
    else this.lastCounts = read;
    const counts = this.lastCounts;
    const own = [...this.conns.values()].map((c): HostStatus => {
      const n = counts.get(c.name) ?? { pending: 0, applied: 0, failed: 0 };
      return {
        name: c.name,
        address: c.host.address,
        driver: c.host.driver,
        groups: c.host.groups,
        connected: c.connected,
        state: c.state,
        since: c.since,
        pending: n.pending,
        failed: n.failed,
        applied: n.applied,
        lastError: c.lastError,
        lastErrorAt: c.lastErrorAt,
      };
    });
    for (const c of this.central.values()) own.push(...c.hosts());
    return own;
  }

  /** Per host, the state of one ban (`fleetban banned --json`). */
  hostsOf(jail: string, ip: string): Awaitable<Record<string, LedgerStatus>> {
    return this.o.ledger.hostsOf(jail, ip);
  }

  /**
   * Run actionflush of a jail on every connected host (fleetban never does
   * this by itself). Hosts that did it forget the jail's ledger rows.
   */
  async flushJail(jail: string): Promise<{ host: string; error: string | null }[]> {
    const central = (await Promise.all([...this.central.values()].map((c) => c.flushJail(jail)))).flat();
    const out = await Promise.all(
      [...this.conns.values()].map(async (c) => {
        const error = await c.flush(jail);
        if (error === null) await this.o.ledger.forgetJail(c.name, jail);
        return { host: c.name, error };
      }),
    );
    return [...out, ...central];
  }

  /** Reconcile every connected host now (the interval does this by itself). */
  reconcileAll(): void {
    for (const c of this.central.values()) c.reconcileAll();
    this.guard(
      settle(this.flush(), () => {
        for (const c of this.conns.values()) if (c.connected) this.reconcile(c, true);
      }),
    );
  }

  /** Close the sessions. Bans stay on the servers; the ledger remembers what is pending. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.flush();
    await Promise.all([...this.conns.values()].map((c) => c.stop()));
    await Promise.all([...this.central.values()].map((c) => c.stop()));
  }

  /**
   * The central actions' dispatchers, one per action name (`central/NAME`),
   * so that each has its own ledger rows and retries: a webhook that fails
   * is sent again without mailing the administrator twice. Made when a jail
   * first names the action (start or reload); kept after, so that bans of a
   * jail that dropped it are reconciled (unbanned) there.
   */
  private startCentral(): void {
    const c = this.o.central;
    if (!c || this.stopped) return;
    const names = new Set(c.jails().flatMap((j) => c.actions(j).map((a) => a.actname)));
    for (const name of names) {
      if (this.central.has(name)) continue;
      const host: FleetHost = { ...CENTRAL_HOST, name: `${CENTRAL_HOST.name}/${name}` };
      const actions = (jail: string) => c.actions(jail).filter((a) => a.actname === name);
      const central = new FleetDispatcher({ ...this.o, hosts: [host], actions, central: undefined, allScopes: true });
      for (const ev of ['settled', 'reconciled']) central.on(ev, (e: unknown) => this.emit(ev, e));
      this.central.set(name, central);
      central.start();
    }
  }

  // ---- recording and sending ---------------------------------------------

  /** Only canonical addresses and networks ever reach a host (see ban-target.ts). */
  private valid(jail: string, ip: string): boolean {
    if (isBanTarget(ip)) return true;
    this.log.error({ jail, ip: ip.slice(0, 60) }, 'not a canonical address or network: not sent to any host');
    return false;
  }

  private hasActions(jail: string): boolean {
    return this.o.actions(jail).length > 0;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Decisions of one burst are recorded in one transaction.
    setImmediate(() => this.guard(this.flush()));
  }

  /** Record what waits to be recorded, then send what needs sending. */
  private flush(): Awaitable<void> {
    this.flushScheduled = false;
    if (this.toRecord.length === 0) return;
    const items = this.toRecord.splice(0);
    return settle(this.o.ledger.record(items.map((p) => ({ host: p.host, jail: p.op.jail, ip: p.op.ip, want: p.op.op }))), (send) => {
      const perHost = new Map<string, HostOp[]>();
      for (let i = 0; i < items.length; i++) {
        if (!send[i]) continue;
        const p = items[i]!;
        let list = perHost.get(p.host);
        if (!list) perHost.set(p.host, (list = []));
        list.push(p.op);
      }
      for (const [host, ops] of perHost) this.dispatch(host, ops);
    });
  }

  /**
   * A ledger write that finishes later: its failure is logged; a fenced one
   * (another node leads now) stops this dispatcher from pushing anything more.
   */
  private guard(v: Awaitable<unknown>): void {
    if (!(v instanceof Promise)) return;
    v.catch((err: unknown) => {
      if (err instanceof FencedError) {
        this.log.error({ err: err.message }, 'ledger write fenced: another node leads; this one stops pushing');
        void this.stop();
        return;
      }
      this.log.error({ err }, 'ledger write failed');
    });
  }

  /** Hand recorded ops to their host; dry-run actions are logged and settled here. */
  private dispatch(host: string, ops: HostOp[]): void {
    const live: HostOp[] = [];
    const local: SettledOp[] = [];
    const now = this.now();
    const byJail = new Map<string, ActionSpec[]>();
    for (const op of ops) {
      let actions = byJail.get(op.jail);
      if (!actions) byJail.set(op.jail, (actions = this.o.actions(op.jail)));
      for (const a of actions) if (a.dryRun) this.logDryRun(host, a, op, now);
      if (actions.some((a) => !a.dryRun)) live.push(op);
      else local.push({ op, ok: true, sentAt: now, answeredAt: now });
    }
    if (local.length) this.settled(host, local);
    if (live.length) this.conns.get(host)?.enqueue(live);
  }

  /**
   * An empty fleet.conf (the shipped default, and `npm start`): there is
   * nowhere to push, so every action's command is logged as it would be
   * sent, to show an administrator what a real fleet would receive.
   */
  private logWithoutFleet(op: HostOp): void {
    const now = this.now();
    for (const a of this.o.actions(op.jail)) this.logDryRun('(no hosts in fleet.conf)', a, op, now);
  }

  private logDryRun(host: string, a: ActionSpec, op: HostOp, now: number): void {
    const c = a.families[familyName(op.ip)];
    const t = op.op === 'ban' ? c.actionban : c.actionunban;
    const values = { ...op, now };
    const command = t?.render(values) ?? '';
    // Values from log lines are shown apart from the command, as they travel.
    const data = Object.fromEntries((t?.data(values) ?? []).map((d) => [d.name, d.value]));
    this.log.info({ host, jail: op.jail, action: a.actname, ip: op.ip, command, ...(Object.keys(data).length ? { data } : {}) }, `dry-run: would ${op.op}`);
  }

  private settled(host: string, list: SettledOp[]): void {
    this.guard(this.o.ledger.settle(list.map((s) => ({ host, jail: s.op.jail, ip: s.op.ip, want: s.op.op, ok: s.ok, error: s.error }))));
    if (this.listenerCount('settled') === 0) return;
    for (const s of list) {
      const ev: SettledEvent = { host, jail: s.op.jail, ip: s.op.ip, want: s.op.op, ok: s.ok, latencyMs: s.answeredAt - s.sentAt };
      if (s.error !== undefined) ev.error = s.error;
      this.emit('settled', ev);
    }
  }

  // ---- hosts and reconciliation ------------------------------------------

  private addHost(h: FleetHost): void {
    const conn = new HostConnection(h, {
      actions: this.o.actions,
      logger: this.log,
      now: this.now,
      sshPath: this.o.sshPath,
      mayPush: this.o.mayPush,
      onConnected: (c, bootId) => this.onConnected(c, bootId),
      onSettled: (host, list) => this.settled(host, list),
      onInterrupted: (host, ops, error) => {
        this.guard(this.o.ledger.interrupted(ops.map((op) => ({ host, jail: op.jail, ip: op.ip, want: op.op })), error));
      },
      onTimedOut: (host, ops, error) => {
        this.guard(this.o.ledger.timedOut(ops.map((op) => ({ host, jail: op.jail, ip: op.ip, want: op.op })), error));
      },
      onStateLost: (host, jail) => {
        this.guard(
          settle(this.o.ledger.reopen(host, jail), (n) => {
            if (n === 0) return;
            this.log.warn({ host, jail, bans: n }, 'the host had lost its bans (actioncheck failed): sending them again');
            return settle(this.outstandingOps(host, this.activeIndex()), (ops) => this.conns.get(host)?.enqueue(ops));
          }),
        );
      },
    });
    this.conns.set(h.name, conn);
    if (!this.stopped) conn.start();
  }

  private onConnected(conn: HostConnection, bootId: string): void {
    if (!bootId) return this.reconcile(conn, true, false);
    this.guard(
      settle(this.o.ledger.bootId(conn.name), (known) => {
        const reopened =
          known && known !== bootId
            ? settle(this.o.ledger.reopen(conn.name), (n) => {
                this.log.warn({ host: conn.name, bans: n }, 'the host rebooted since the last session: sending its bans again');
              })
            : undefined;
        return settle(reopened, () =>
          settle(known !== bootId ? this.o.ledger.setBootId(conn.name, bootId) : undefined, () => this.reconcile(conn, true, false)),
        );
      }),
    );
  }

  /**
   * Make the host's ledger agree with the active bans in its scope (ban
   * what is missing, unban what is no longer active), check its actions,
   * and send everything pending, and (at the interval, not at every
   * reconnection) what failed.
   */
  private reconcile(conn: HostConnection, recheck: boolean, retryFailed = true): void {
    this.guard(
      settle(this.flush(), () => settle(this.o.ledger.rows(conn.host.name), (rows) => this.reconcileRows(conn, rows, recheck, retryFailed))),
    );
  }

  private reconcileRows(conn: HostConnection, rows: Iterable<LedgerRow>, recheck: boolean, retryFailed: boolean): Awaitable<void> {
    const host = conn.host;
    const index = this.activeIndex();
    const wanted = new Map<string, Ban>();
    for (const [k, b] of index) if ((this.o.allScopes || hostInScope(host, b.scope, b.origins)) && isBanTarget(b.ip)) wanted.set(k, b);

    const changes: { host: string; jail: string; ip: string; want: LedgerWant }[] = [];
    const jails = new Map<string, Set<ActionFamily>>();
    const note = (jail: string, ip: string) => {
      let s = jails.get(jail);
      if (!s) jails.set(jail, (s = new Set()));
      s.add(familyName(ip));
    };
    const present = new Set<string>();
    // Rows still to send, as they stand after the changes below.
    const outstanding = new Map<string, { jail: string; ip: string; want: LedgerWant }>();
    for (const row of rows) {
      const k = `${row.jail}\u0000${row.ip}`;
      note(row.jail, row.ip);
      let want: LedgerWant = row.want;
      if (row.want === 'ban') {
        if (wanted.has(k)) present.add(k);
        else changes.push({ host: host.name, jail: row.jail, ip: row.ip, want: (want = 'unban') });
      } else if (wanted.has(k)) {
        present.add(k);
        changes.push({ host: host.name, jail: row.jail, ip: row.ip, want: (want = 'ban') });
      }
      if (want !== row.want || row.status === 'pending' || (row.status === 'failed' && retryFailed)) {
        outstanding.set(k, { jail: row.jail, ip: row.ip, want });
      }
    }
    const hasActions = new Map<string, boolean>();
    for (const [k, b] of wanted) {
      if (present.has(k)) continue;
      let has = hasActions.get(b.jail);
      if (has === undefined) hasActions.set(b.jail, (has = this.hasActions(b.jail)));
      if (!has) continue;
      note(b.jail, b.ip);
      changes.push({ host: host.name, jail: b.jail, ip: b.ip, want: 'ban' });
      outstanding.set(k, { jail: b.jail, ip: b.ip, want: 'ban' });
    }
    return settle(this.o.ledger.record(changes), () => this.sendReconciled(conn, changes.length, jails, outstanding, index, recheck));
  }

  /** After reconcileRows' changes are recorded: check the host's actions and send what is outstanding. */
  private sendReconciled(
    conn: HostConnection,
    changes: number,
    jails: Map<string, Set<ActionFamily>>,
    outstanding: Map<string, { jail: string; ip: string; want: LedgerWant }>,
    index: Map<string, Ban>,
    recheck: boolean,
  ): void {
    const host = conn.host;
    if (changes) this.log.info({ host: host.name, changes }, 'reconciled with the active bans');
    if (recheck) {
      const pairs: { jail: string; family: ActionFamily }[] = [];
      for (const [jail, fams] of jails) {
        if (!this.o.actions(jail).some((a) => !a.dryRun)) continue;
        for (const family of fams) pairs.push({ jail, family });
      }
      conn.recheck(pairs);
    }
    const now = this.now();
    const ops: HostOp[] = [];
    for (const [k, r] of outstanding) ops.push(this.opFor(host.name, r.jail, r.ip, r.want, index.get(k), now));
    // Dry-run jails never reach the host; settle them here.
    this.dispatch(host.name, ops);
    this.emit('reconciled', { host: host.name, changes, outstanding: ops.length } satisfies ReconciledEvent);
  }

  private opFor(host: string, jail: string, ip: string, want: LedgerWant, b: Ban | undefined, now: number): HostOp {
    if (want === 'ban' && b) return { ...opOf(b, 'ban'), host, restored: true };
    return { host, op: want, jail, ip, bantime: -1, failures: 0, time: now, fields: {}, until: null, restored: true };
  }

  private outstandingOps(host: string, index: Map<string, Ban>): Awaitable<HostOp[]> {
    const now = this.now();
    return settle(this.o.ledger.outstanding(host), (rows) =>
      rows.map((row) => this.opFor(host, row.jail, row.ip, row.want, index.get(`${row.jail}\u0000${row.ip}`), now)),
    );
  }

  /** The active bans keyed jail+ip, one snapshot shared by hosts reconciling close together. */
  private activeIndex(): Map<string, Ban> {
    const now = this.now();
    if (!this.snapshot || this.snapshot.version !== this.version || now - this.snapshot.at > SNAPSHOT_MS) {
      const index = new Map<string, Ban>();
      for (const b of this.o.activeBans()) index.set(`${b.jail}\u0000${b.ip}`, b);
      this.snapshot = { version: this.version, at: now, index };
    }
    return this.snapshot.index;
  }
}

function opOf(d: Ban, want: LedgerWant): HostOp {
  return {
    host: '',
    op: want,
    jail: d.jail,
    ip: d.ip,
    bantime: d.until === null ? -1 : Math.round((d.until - d.since) / 1000),
    failures: d.failures,
    time: d.since,
    fields: d.fields,
    matches: d.matches,
    until: d.until,
    restored: false,
  };
}

/** Same ssh endpoint and options: only the groups (or nothing) changed. */
function sameConnection(a: FleetHost, b: FleetHost): boolean {
  const strip = (h: FleetHost) => JSON.stringify({ ...h, groups: [] });
  return strip(a) === strip(b);
}
