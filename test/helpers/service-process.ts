import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'dist/src/cli/main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A configuration directory for one test: the shipped conf/ copied, with a
 * fleetban.local that moves the listeners, the state and the metrics to
 * places of the test's own, plus any files the test adds or replaces.
 */
export function testConfDir(o: { udp?: number; tcp?: number; metrics?: number; files?: Record<string, string> }): string {
  const dir = mkdtempSync(join(tmpdir(), 'fleetban-e2e-'));
  cpSync(join(ROOT, 'conf'), join(dir, 'conf'), { recursive: true });
  const conf = join(dir, 'conf');
  writeFileSync(
    join(conf, 'fleetban.local'),
    [
      '[fleetban]',
      `statedir = ${join(dir, 'var')}`,
      'loglevel = debug',
      '[listen]',
      `udp = ${o.udp ? `127.0.0.1:${o.udp}` : ''}`,
      `tcp = ${o.tcp ? `127.0.0.1:${o.tcp}` : ''}`,
      '[journal]',
      'enabled = no',
      '[metrics]',
      `listen = ${o.metrics ? `127.0.0.1:${o.metrics}` : ''}`,
      '',
    ].join('\n'),
  );
  for (const [name, text] of Object.entries(o.files ?? {})) {
    mkdirSync(dirname(join(conf, name)), { recursive: true });
    writeFileSync(join(conf, name), text);
  }
  return conf;
}

export function removeConfDir(conf: string): void {
  rmSync(resolve(conf, '..'), { recursive: true, force: true });
}

/** Run a fleetban verb against `conf`, as an administrator would. */
export function cli(conf: string, ...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [CLI, '-c', conf, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `fleetban run` in a child process, with its JSON log lines collected. */
export class ServiceProcess {
  readonly lines: Record<string, unknown>[] = [];
  private exited: Promise<number>;

  private constructor(
    readonly conf: string,
    readonly child: ChildProcess,
  ) {
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.lines.push({ msg: line });
        }
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => this.lines.push({ stderr: chunk }));
    this.exited = new Promise((res) => child.on('exit', (code, signal) => res(code ?? (signal ? 128 : -1))));
  }

  /** Exec `fleetban run` and return at once, while it starts. */
  static spawn(conf: string): ServiceProcess {
    const child = spawn(process.execPath, [CLI, '-c', conf, 'run'], { stdio: ['ignore', 'pipe', 'pipe'] });
    return new ServiceProcess(conf, child);
  }

  /** Start the service and wait until it says it is running (or fails to). */
  static async start(conf: string): Promise<ServiceProcess> {
    const s = ServiceProcess.spawn(conf);
    const child = s.child;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (s.lines.some((l) => l.msg === 'fleetban running')) return s;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    throw new Error(`fleetban did not start:\n${s.lines.map((l) => JSON.stringify(l)).join('\n')}`);
  }

  logged(msg: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l.msg === msg);
  }

  /** Send a signal and wait for the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}
