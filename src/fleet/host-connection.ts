import type { Logger } from 'pino';
import type { ActionFamily, ActionSpec } from '../config/action-reader.js';
import type { FleetHost } from '../config/fleet-reader.js';
import { familyOf } from '../net/address.js';
import { Backoff } from './backoff.js';
import type { HostDriver, OpsUnit, HostOp } from './host-driver.js';
import { LOCAL_SHELL, LocalDriver } from './local-driver.js';
import { RemoteDriver } from './remote-driver.js';
import { ShellDriver } from './shell-driver.js';
import { sshArgv } from './ssh-command.js';
import { CommandTimeout, SshSession } from './ssh-session.js';

/** Commands in flight per session: enough to keep the link busy, few enough that a hang is noticed quickly. */
const WINDOW = 8;

export type ConnectionState = 'connecting' | 'connected' | 'waiting' | 'stopped';

/** What happened to one ban or unban sent to a host. */
export interface SettledOp {
  op: HostOp;
  ok: boolean;
  error?: string;
  /** ms since the epoch: when its command was written, and when the host answered. */
  sentAt: number;
  answeredAt: number;
}

export interface HostConnectionDeps {
  actions: (jail: string) => ActionSpec[];
  logger: Logger;
  /** A session is up (after its hello): reconcile the host. */
  onConnected: (conn: HostConnection, bootId: string) => void;
  onSettled: (host: string, settled: SettledOp[]) => void;
  /** Sent, never answered: the session ended first. */
  onInterrupted: (host: string, ops: HostOp[], error: string) => void;
  /** Sent, and the host hung on it: the watchdog gave up on this very command. */
  onTimedOut: (host: string, ops: HostOp[], error: string) => void;
  /** An action's check failed and its start ran: the host had lost the jail's bans. */
  onStateLost: (host: string, jail: string) => void;
  now?: () => number;
  sshPath?: string;
  /**
   * Asked before any ban or unban is written to the host: false holds it
   * (it stays pending in the ledger). A cluster node that is not sure it
   * still leads must push nothing.
   */
  mayPush?: () => boolean;
}

export function familyName(ip: string): ActionFamily {
  return familyOf(ip) === 6 ? 'inet6' : 'inet4';
}

function opKey(op: { jail: string; ip: string }): string {
  return `${op.jail}\u0000${op.ip}`;
}

/**
 * One mail server: its SSH session, the bans queued for it, reconnection
 * with backoff. The ledger is the truth; the queue only holds what is on its
 * way while the session is up. When the session ends, the queue is dropped
 * and the next session starts from the ledger again, so nothing is lost and
 * nothing waits on a host that is down.
 */
export class HostConnection {
  state: ConnectionState = 'waiting';
  /** ms since the epoch: connected since, or down since. */
  since: number;
  lastError: string | null = null;
  lastErrorAt: number | null = null;
  bootId: string | null = null;

  private session: SshSession | undefined;
  private driver: HostDriver | undefined;
  private readonly queue = new Map<string, HostOp>();
  /** Keys in flight with the want they carry: reconciliation does not send them twice. */
  private readonly sending = new Map<string, string>();
  private unitsInFlight = 0;
  private readonly ensured = new Set<string>();
  private readonly backoff = new Backoff();
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(
    public host: FleetHost,
    private readonly deps: HostConnectionDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.since = this.now();
    this.log = deps.logger.child({ host: host.name });
  }

  get name(): string {
    return this.host.name;
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  get queued(): number {
    return this.queue.size;
  }

  get inFlight(): number {
    return this.sending.size;
  }

  /** The pid of the ssh client, for tests that need to find it. */
  get sshPid(): number | undefined {
    return this.session?.pid;
  }

  start(): void {
    if (this.state === 'stopped' || this.session) return;
    this.connect();
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.retryTimer);
    this.queue.clear();
    const s = this.session;
    if (s) await s.close();
  }

  /** Queue bans and unbans (already in the ledger) for sending. Ignored while not connected. */
  enqueue(ops: Iterable<HostOp>): void {
    if (this.state !== 'connected') return;
    for (const op of ops) {
      const k = opKey(op);
      if (this.sending.get(k) === op.op) continue;
      this.queue.delete(k); // the newest want for a key goes last, in order after older ones
      this.queue.set(k, op);
    }
    this.pump();
  }

  /** Run the jails' actioncheck (and actionstart when it fails) again, as at connect. */
  recheck(pairs: Iterable<{ jail: string; family: ActionFamily }>): void {
    if (this.state !== 'connected') return;
    this.ensured.clear();
    for (const p of pairs) this.sendEnsure(p.jail, p.family);
    this.pump();
  }

  /** Run actionflush of a jail (fleetban-remote: `flush JAIL`). Resolves with the host's error, or null. */
  async flush(jail: string): Promise<string | null> {
    const s = this.session;
    const d = this.driver;
    if (this.state !== 'connected' || !s || !d) return 'not connected';
    const text = d.flush(s.peekId(), jail);
    if (text === null) return null;
    try {
      const a = await s.send(text);
      return a.ok ? null : a.text;
    } catch (err) {
      return (err as Error).message;
    }
  }

  // ---- session lifecycle -------------------------------------------------

  private connect(): void {
    this.state = 'connecting';
    const local = this.host.driver === 'local';
    const driver: HostDriver = local
      ? new LocalDriver(this.deps.actions, this.now)
      : this.host.driver === 'shell'
        ? new ShellDriver(this.deps.actions, this.now)
        : new RemoteDriver();
    // The central host's own shell: the same session and framing, no ssh.
    const session = local
      ? new SshSession([], driver.parser(), this.host.timeoutMs, LOCAL_SHELL)
      : new SshSession(sshArgv(this.host, driver.remoteCommand), driver.parser(), this.host.timeoutMs, this.deps.sshPath);
    this.session = session;
    this.driver = driver;
    session.start((reason) => this.onEnd(session, reason));
    // The hello is the first command: it waits for the connection and login too.
    session.send(driver.hello(session.peekId()), this.host.connectTimeoutMs + this.host.timeoutMs).then(
      (a) => {
        if (!a.ok) session.kill(`the host refused the first command: ${a.text}`);
        else if (this.session === session && this.state === 'connecting') this.onUp(a.extra);
      },
      () => {}, // onEnd says why
    );
  }

  private onUp(bootId: string): void {
    this.state = 'connected';
    this.since = this.now();
    this.bootId = bootId || null;
    this.backoff.reset();
    this.ensured.clear();
    this.log.info({ bootId: this.bootId }, 'connected');
    this.deps.onConnected(this, bootId);
  }

  private onEnd(session: SshSession, reason: string): void {
    if (session !== this.session) return;
    this.session = undefined;
    this.driver = undefined;
    this.queue.clear();
    this.ensured.clear();
    if (this.state === 'stopped') return;
    const wasUp = this.state === 'connected';
    this.state = 'waiting';
    this.since = wasUp ? this.now() : this.since;
    this.setError(reason);
    const delay = this.backoff.next();
    if (wasUp) this.log.warn({ reason, retryInMs: delay }, 'session lost');
    else this.log.warn({ reason, retryInMs: delay, attempt: this.backoff.attempts }, 'cannot connect');
    this.retryTimer = setTimeout(() => {
      if (this.state === 'waiting') this.connect();
    }, delay);
  }

  private setError(e: string): void {
    this.lastError = e;
    this.lastErrorAt = this.now();
  }

  // ---- sending -----------------------------------------------------------

  private pump(): void {
    const s = this.session;
    const d = this.driver;
    if (!s || !d) return;
    if (this.queue.size > 0 && this.deps.mayPush && !this.deps.mayPush()) {
      // Dropped, not lost: the ledger keeps them pending for the next reconciliation.
      this.queue.clear();
      return;
    }
    while (this.state === 'connected' && this.unitsInFlight < WINDOW && this.queue.size > 0) {
      const first = this.queue.values().next().value as HostOp;
      const family = familyName(first.ip);
      if (!this.ensured.has(`${first.jail}\u0000${family}`)) {
        this.sendEnsure(first.jail, family);
        continue;
      }
      const limit = first.alone ? 1 : d.batchLimit(first.jail, first.op, family);
      const ops: HostOp[] = [];
      for (const [k, op] of this.queue) {
        if (ops.length > 0 && (op.jail !== first.jail || op.op !== first.op || op.alone || familyName(op.ip) !== family)) break;
        ops.push(op);
        this.queue.delete(k);
        if (ops.length >= limit) break;
      }
      this.sendOps({ jail: first.jail, want: first.op, family, ops });
    }
  }

  private sendEnsure(jail: string, family: ActionFamily): void {
    this.ensured.add(`${jail}\u0000${family}`);
    const s = this.session!;
    const text = this.driver!.ensure(s.peekId(), jail, family);
    if (text === null) return;
    this.unitsInFlight++;
    s.send(text).then(
      (a) => {
        this.unitsInFlight--;
        if (!a.ok) {
          this.setError(`${jail}: actionstart failed: ${a.text}`);
          this.log.error({ jail, family, error: a.text }, 'actionstart failed');
        }
        if (a.extra.split(' ').includes('started')) this.deps.onStateLost(this.host.name, jail);
        this.pump();
      },
      () => {
        this.unitsInFlight--;
      },
    );
  }

  private sendOps(unit: OpsUnit): void {
    const s = this.session!;
    let text: string;
    const sentAt = this.now();
    try {
      text = this.driver!.ops(s.peekId(), unit);
    } catch (err) {
      const error = (err as Error).message;
      this.setError(error);
      this.deps.onSettled(this.host.name, unit.ops.map((op) => ({ op, ok: false, error, sentAt, answeredAt: sentAt })));
      return;
    }
    for (const op of unit.ops) this.sending.set(opKey(op), op.op);
    this.unitsInFlight++;
    s.send(text).then(
      (a) => {
        this.unitsInFlight--;
        for (const op of unit.ops) this.sending.delete(opKey(op));
        const answeredAt = this.now();
        if (a.ok) {
          this.deps.onSettled(this.host.name, unit.ops.map((op) => ({ op, ok: true, sentAt, answeredAt })));
        } else if (unit.ops.length > 1) {
          // One bad ban should not fail the burst: find it by sending them one by one.
          this.log.warn({ jail: unit.jail, want: unit.want, count: unit.ops.length, error: a.text }, 'batch failed; sending one by one');
          this.requeueFront(unit.ops.map((op) => ({ ...op, alone: true })));
        } else {
          this.setError(`${unit.want} ${unit.jail} ${unit.ops[0]!.ip}: ${a.text}`);
          this.log.error({ jail: unit.jail, want: unit.want, ip: unit.ops[0]!.ip, error: a.text }, 'command failed');
          this.deps.onSettled(this.host.name, [{ op: unit.ops[0]!, ok: false, error: a.text, sentAt, answeredAt }]);
        }
        this.pump();
      },
      (err: Error) => {
        this.unitsInFlight--;
        for (const op of unit.ops) this.sending.delete(opKey(op));
        if (err instanceof CommandTimeout) this.deps.onTimedOut(this.host.name, unit.ops, err.message);
        else this.deps.onInterrupted(this.host.name, unit.ops, err.message);
      },
    );
  }

  private requeueFront(ops: HostOp[]): void {
    const rest = [...this.queue];
    const newer = new Set(this.queue.keys());
    this.queue.clear();
    for (const op of ops) {
      const k = opKey(op);
      // A newer want for the same key, queued meanwhile, supersedes this one.
      if (!newer.has(k)) this.queue.set(k, op);
    }
    for (const [k, op] of rest) this.queue.set(k, op);
  }
}
