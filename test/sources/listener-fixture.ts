import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pino from 'pino';
import type { ListenConfig } from '../../src/config/service-config.js';
import type { EventSink } from '../../src/model/event-sink.js';
import type { LogEvent } from '../../src/model/log-event.js';
import { FleetSenderPolicy, type SenderPolicy } from '../../src/sources/sender-policy.js';
import { SyslogListeners } from '../../src/sources/syslog-listeners.js';
import { defaultListenConfig } from '../../src/config/service-reader.js';

export const run = promisify(execFile);

/** fleetban.conf's [listen] with every listener on an ephemeral loopback port unless told otherwise. */
export function listenConfig(over: Partial<ListenConfig> = {}): ListenConfig {
  return { ...defaultListenConfig(), ...over };
}

/** A sink that keeps what it gets, and can say it is full. */
export class CollectingSink implements EventSink {
  readonly events: LogEvent[] = [];
  full = false;
  private drains: (() => void)[] = [];
  private waiters: { until: () => boolean; resolve: () => void }[] = [];

  push(ev: LogEvent): boolean {
    this.events.push(ev);
    this.waiters = this.waiters.filter((w) => (w.until() ? (w.resolve(), false) : true));
    return !this.full;
  }

  onDrain(listener: () => void): void {
    this.drains.push(listener);
  }

  drain(): void {
    this.full = false;
    for (const d of this.drains) d();
  }

  /** Resolves when `until` holds, rejects after `ms` with what arrived so far. */
  waitFor(until: () => boolean, ms = 10_000, what = 'events'): Promise<void> {
    if (until()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out waiting for ${what}; got ${this.events.length}: ${JSON.stringify(this.events.slice(-3).map((e) => e.raw.slice(0, 120)))}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push({ until, resolve: done });
    });
  }

  /** Waits for the first event whose message contains `text`. */
  async next(text: string, ms = 10_000): Promise<LogEvent> {
    await this.waitFor(() => this.events.some((e) => e.message.includes(text)), ms, JSON.stringify(text));
    return this.events.find((e) => e.message.includes(text))!;
  }
}

/** A pino logger whose lines a test can read. */
export function memoryLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

export function loopbackPolicy(over: Partial<ConstructorParameters<typeof FleetSenderPolicy>[0]> = {}): SenderPolicy {
  return new FleetSenderPolicy({ allowedSenders: [], hosts: [{ name: 'mx1', address: '198.18.0.2' }], ...over });
}

export interface Running {
  listeners: SyslogListeners;
  sink: CollectingSink;
  lines: Record<string, unknown>[];
  port(transport: 'udp' | 'tcp' | 'tls', host?: string): number;
}

/** Starts listeners on `cfg`; stop them with `listeners.stop()`. */
export async function startListeners(cfg: ListenConfig, policy: SenderPolicy = loopbackPolicy()): Promise<Running> {
  const sink = new CollectingSink();
  const { logger, lines } = memoryLogger();
  const listeners = new SyslogListeners(cfg, sink, policy, logger);
  await listeners.start();
  return {
    listeners,
    sink,
    lines,
    port(transport, host) {
      const b = listeners.bound().find((a) => a.transport === transport && (host === undefined || a.host === host));
      if (!b) throw new Error(`no ${transport} listener`);
      return b.port;
    },
  };
}

/** util-linux logger, the simplest real syslog client. */
export async function logger(args: string[], message: string): Promise<void> {
  await run('logger', [...args, message], { timeout: 10_000 });
}

/** A message no other test sends, so a wait cannot be satisfied by an earlier one. */
let serial = 0;
export function unique(prefix: string): string {
  return `${prefix} ${process.pid}-${++serial}-${Date.now()}`;
}
