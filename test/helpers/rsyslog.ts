import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private rsyslogd for tests and benchmarks: its own work directory, its
 * own imuxsock socket (the machine's /dev/log is never touched), its own
 * pid file, and whatever inputs and actions the caller writes in
 * RainerScript. `rsyslogd -n` stays in the foreground as our child, so it
 * is stopped by its pid and nothing else.
 */
export interface Rsyslog {
  /** Its private directory: work files, spool, socket, anything the config writes. */
  dir: string;
  /** The imuxsock socket; `logger -u SOCKET` writes to it. */
  socket: string;
  pid: number;
  /** rsyslogd's own stderr and internal messages so far (config errors show up here). */
  stderr(): string;
  /** SIGTERM, wait for exit (rsyslog flushes its queues first), remove the directory unless `keep`. */
  stop(opts?: { keep?: boolean }): Promise<void>;
}

export interface RsyslogOptions {
  /** RainerScript after the globals and the private imuxsock input: more inputs, actions. A function gets the private directory, for output files. */
  config: string | ((dir: string) => string);
  /** The hostname rsyslog writes into messages (default mx1.example.com, like the captures). */
  hostname?: string;
  /** Without imuxsock at all (a receiver for benchmarks). */
  noSocket?: boolean;
  /** Longest message rsyslog takes (its default is 8k), e.g. "128k". */
  maxMessageSize?: string;
  /** More global() parameters, e.g. the gtls driver's certificate files. */
  globals?: Record<string, string>;
}

export async function startRsyslog(opts: RsyslogOptions): Promise<Rsyslog> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetban-rsyslog-'));
  const socket = join(dir, 'log.sock');
  const pidFile = join(dir, 'rsyslogd.pid');
  const conf = join(dir, 'rsyslog.conf');
  const socketConfig = opts.noSocket
    ? ''
    : `module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="${socket}" CreatePath="on" RateLimit.Interval="0" UseSysTimeStamp="on")
`;
  writeFileSync(
    conf,
    `global(workDirectory="${dir}" localHostname="${opts.hostname ?? 'mx1.example.com'}" processInternalMessages="on"${opts.maxMessageSize ? ` maxMessageSize="${opts.maxMessageSize}"` : ''}${Object.entries(opts.globals ?? {}).map(([k, v]) => ` ${k}="${v}"`).join('')})
${socketConfig}
# rsyslogd's own messages (start, errors) go to a file of ours, never to the actions under test.
if $inputname == "rsyslogd" or $programname == "rsyslogd" then {
  action(type="omfile" file="${join(dir, 'rsyslogd.log')}")
  stop
}
${typeof opts.config === 'function' ? opts.config(dir) : opts.config}
`,
  );
  const child: ChildProcess = spawn('rsyslogd', ['-n', '-f', conf, '-i', pidFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));

  const ready = () => (opts.noSocket ? existsSync(pidFile) : existsSync(socket));
  for (let i = 0; i < 200 && !ready() && !gone; i++) await new Promise((r) => setTimeout(r, 25));
  if (!ready()) {
    child.kill('SIGKILL');
    await exited;
    const config = readFileSync(conf, 'utf8');
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`rsyslogd did not start: ${stderr.trim()}\nconfig:\n${config}`);
  }
  return {
    dir,
    socket,
    pid: child.pid!,
    stderr: () => {
      const internal = join(dir, 'rsyslogd.log');
      return stderr + (existsSync(internal) ? readFileSync(internal, 'utf8') : '');
    },
    async stop({ keep = false } = {}) {
      if (!gone) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An omfwd action to a fleetban listener: `framing` only matters for TCP. */
export function forwardTo(
  port: number,
  opts: { protocol: 'udp' | 'tcp'; template?: string; framing?: 'traditional' | 'octet-counted'; target?: string; extra?: string },
): string {
  const parts = [`type="omfwd"`, `target="${opts.target ?? '127.0.0.1'}"`, `port="${port}"`, `protocol="${opts.protocol}"`];
  if (opts.template) parts.push(`template="${opts.template}"`);
  if (opts.framing) parts.push(`TCP_Framing="${opts.framing}"`);
  if (opts.extra) parts.push(opts.extra);
  return `action(${parts.join(' ')})`;
}
