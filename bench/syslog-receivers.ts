/**
 * The receiving sides of the syslog benchmarks: fleetban's listeners (with a
 * sink that only counts, or with the real pipeline and the shipped filters)
 * and rsyslogd (imudp or imptcp writing a file), behind one small interface
 * so each benchmark runs the same sender against each.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import type { ListenConfig } from '../src/config/service-config.js';
import { loadFilter } from '../src/filters/filter.js';
import type { EventSink } from '../src/model/event-sink.js';
import type { LogEvent } from '../src/model/log-event.js';
import { Pipeline } from '../src/service/pipeline.js';
import { FleetSenderPolicy } from '../src/sources/sender-policy.js';
import { SyslogListeners } from '../src/sources/syslog-listeners.js';
import { startRsyslog } from '../test/helpers/rsyslog.js';
import { defaultListenConfig } from '../src/config/service-reader.js';

export interface Receiver {
  name: string;
  port: number;
  /** Messages that made it all the way through (parsed, matched, or written to the file). */
  count(): number;
  /** Extra figures worth printing (failures matched, kernel drops seen, ...). */
  notes(): string;
  /** CPU seconds (user + system, every thread) the receiver has used since it started. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** CPU seconds used so far by process `pid` (all its threads), from /proc. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** The receive buffer the kernel granted the UDP socket bound to `port` (the `rb` of `ss -m`), or undefined. */
export function udpReceiveBuffer(port: number): number | undefined {
  try {
    const out = execFileSync('ss', ['-u', '-a', '-n', '-m', '-H', `sport = :${port}`], { encoding: 'utf8' });
    const m = /skmem:\([^)]*\brb(\d+)/.exec(out);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The machine's load average, as /proc/loadavg gives it (1, 5, 15 minutes). */
export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

const CONF = join(import.meta.dirname, '..', 'conf');
const quiet = pino({ level: 'warn' });

function listenConfig(over: Partial<ListenConfig>): ListenConfig {
  return { ...defaultListenConfig(), ...over };
}

class CountingSink implements EventSink {
  n = 0;
  push(_ev: LogEvent): boolean {
    this.n++;
    return true;
  }
  onDrain(): void {}
}

/** fleetban's listeners. `match`: the real pipeline with the shipped vpopmail and Courier jails behind them. */
export async function startFleetban(transport: 'udp' | 'tcp', match: boolean): Promise<Receiver> {
  let failures = 0;
  let sink: EventSink;
  let counted: () => number;
  if (match) {
    const jails = ['vpopmail', 'courier-auth', 'courier-smtp'].map((name) => ({
      name,
      filterName: name,
      sources: null,
      filter: loadFilter(CONF, name),
    }));
    const pipeline = new Pipeline(jails, () => void failures++, quiet);
    sink = pipeline;
    counted = () => pipeline.stats.events;
  } else {
    const s = new CountingSink();
    sink = s;
    counted = () => s.n;
  }
  const listeners = new SyslogListeners(
    listenConfig({ [transport]: [{ host: '127.0.0.1', port: 0 }] }),
    sink,
    new FleetSenderPolicy({ allowedSenders: [], hosts: [] }),
    quiet,
  );
  await listeners.start();
  const port = listeners.bound()[0]!.port;
  // The receiver runs in this process (the sender in its own): its CPU is the process's, from now on.
  const cpu0 = process.cpuUsage();
  return {
    name: match ? 'fleetban (parse + shipped filters)' : 'fleetban (parse)',
    port,
    count: counted,
    notes: () => {
      const s = listeners.stats().sources[`${transport} 127.0.0.1:0`]!;
      const d = Object.entries(s.dropped).filter(([, v]) => v > 0);
      return `received ${s.received}, parsed ${s.parsed}${d.length ? `, dropped ${JSON.stringify(Object.fromEntries(d))}` : ''}${match ? `, failures ${failures}` : ''}`;
    },
    cpuSeconds: () => {
      const u = process.cpuUsage(cpu0);
      return (u.user + u.system) / 1e6;
    },
    stop: () => listeners.stop(),
  };
}

/** A free port in the range the syslog tests own, for daemons that cannot bind port 0 and tell us. */
export async function freePort(): Promise<number> {
  for (let p = 15500; p < 15600; p++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
  throw new Error('no free port in 15500-15599');
}

/** Counts the lines of a growing file without reading it twice. */
class LineCounter {
  private offset = 0;
  private lines = 0;
  private readonly buf = Buffer.alloc(1 << 20);
  constructor(private readonly path: string) {}
  count(): number {
    let fd: number;
    try {
      if (statSync(this.path).size <= this.offset) return this.lines;
      fd = openSync(this.path, 'r');
    } catch {
      return this.lines;
    }
    try {
      for (;;) {
        const n = readSync(fd, this.buf, 0, this.buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        for (let i = 0; i < n; i++) if (this.buf[i] === 10) this.lines++;
      }
    } finally {
      closeSync(fd);
    }
    return this.lines;
  }
}

/** rsyslogd receiving with imudp or imptcp and writing every message to a file, as a central rsyslog would. */
export async function startRsyslogReceiver(transport: 'udp' | 'tcp'): Promise<Receiver> {
  const port = await freePort();
  const input =
    transport === 'udp'
      ? `module(load="imudp")\ninput(type="imudp" address="127.0.0.1" port="${port}" rcvbufSize="4m" ruleset="bench")`
      : `module(load="imptcp")\ninput(type="imptcp" address="127.0.0.1" port="${port}" ruleset="bench")`;
  const rs = await startRsyslog({
    noSocket: true,
    config: (dir) => `${input}
ruleset(name="bench" queue.type="LinkedList" queue.size="200000") {
  action(type="omfile" file="${join(dir, 'out.log')}" template="RSYSLOG_FileFormat" asyncWriting="on" ioBufferSize="256k" flushOnTXEnd="off" flushInterval="1")
}`,
  });
  const dir = rs.dir;
  const counter = new LineCounter(join(dir, 'out.log'));
  // Ready when it accepts (TCP) or after a moment (UDP has no handshake).
  for (let i = 0; i < 100; i++) {
    if (transport === 'udp') {
      await new Promise((r) => setTimeout(r, 300));
      break;
    }
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    name: `rsyslogd (${transport === 'udp' ? 'imudp' : 'imptcp'} -> file)`,
    port,
    count: () => counter.count(),
    notes: () => '',
    cpuSeconds: () => processCpuSeconds(rs.pid),
    stop: () => rs.stop(),
  };
}

/** Runs the benchmark sender (bench/syslog-sender.ts) in its own process. */
export function spawnSender(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'syslog-sender.ts'), ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

/** Waits for `until` (polled every 10 ms) or `ms`; returns whether it held. */
export async function poll(until: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (until()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return until();
}
