import { spawn, type ChildProcess } from 'node:child_process';
import type { Answer, AnswerParser } from './host-driver.js';

/** The session ended or was given up before a command was answered. */
export class SessionLost extends Error {
  override readonly name: string = 'SessionLost';
}

/** The command the watchdog gave up on: the oldest in flight, the one the host hung on. */
export class CommandTimeout extends SessionLost {
  override readonly name = 'CommandTimeout';
}

interface InFlight {
  id: number;
  timeoutMs: number;
  resolve: (a: Answer) => void;
  reject: (e: Error) => void;
}

/** ssh's stderr kept for the error message: the last lines say what went wrong. */
const STDERR_KEEP = 4096;
/** A line longer than this is not an answer; keep memory bounded whatever the host sends. */
const MAX_LINE = 1 << 20;

/**
 * One long-lived OpenSSH client process: commands go down its stdin, answers
 * come back on its stdout, in order. A command costs one round trip on an
 * open connection instead of a new connection (140-330 ms) per command.
 *
 * A watchdog takes the session for hung when commands are in flight and no
 * answer came for `timeoutMs`: the ssh process is killed, every command in
 * flight fails with SessionLost, and the caller reconnects.
 */
export class SshSession {
  private child: ChildProcess | undefined;
  private parser: AnswerParser;
  private readonly inflight: InFlight[] = [];
  private nextId = 1;
  private partial = '';
  private stderr = '';
  private watchdog: NodeJS.Timeout | undefined;
  private ended = false;
  private endReason = '';
  private readonly endWaiters: ((reason: string) => void)[] = [];

  constructor(
    private readonly argv: string[],
    parser: AnswerParser,
    private readonly timeoutMs: number,
    private readonly sshPath = 'ssh',
  ) {
    this.parser = parser;
  }

  /** Start ssh; `onEnd` is called once, with a reason, when the session is over. */
  start(onEnd: (reason: string) => void): void {
    this.endWaiters.push(onEnd);
    const child = spawn(this.sshPath, this.argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => this.onData(chunk));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_KEEP);
    });
    // Writing to a session that just died: the close event below says why.
    child.stdin!.on('error', () => {});
    child.on('error', (err) => this.end(`cannot run ssh: ${err.message}`));
    child.on('close', (code, signal) => this.end(describeExit(this.stderr, code, signal)));
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get inFlight(): number {
    return this.inflight.length;
  }

  get isOpen(): boolean {
    return !this.ended && this.child !== undefined;
  }

  /** The id the next command will carry (drivers that frame commands need it in the text). */
  peekId(): number {
    return this.nextId;
  }

  /**
   * Send one command (text from a driver, built with peekId()) and wait for its answer.
   * Rejects with SessionLost when the session ends first.
   */
  send(text: string, timeoutMs = this.timeoutMs): Promise<Answer> {
    const id = this.nextId++;
    if (this.ended || !this.child) return Promise.reject(new SessionLost(this.endReason || 'session not open'));
    return new Promise<Answer>((resolve, reject) => {
      this.inflight.push({ id, timeoutMs, resolve, reject });
      if (this.inflight.length === 1) this.arm();
      this.child!.stdin!.write(text);
    });
  }

  /** Close stdin and let the remote end finish; kill ssh if it lingers. */
  async close(graceMs = 2000): Promise<void> {
    if (this.ended || !this.child) return;
    const done = new Promise<void>((r) => this.endWaiters.push(() => r()));
    this.child.stdin!.end();
    const t = setTimeout(() => this.kill('closed'), graceMs);
    await done;
    clearTimeout(t);
  }

  /** End the session now (hung host, stop). */
  kill(reason: string): void {
    if (this.ended) return;
    // What ssh said so far often explains a silence (a refused command, a shell error).
    const said = describeExit(this.stderr, null, null);
    this.endReason = this.stderr.trim() ? `${reason}; ssh said: ${said}` : reason;
    this.child?.kill('SIGKILL');
    // 'close' follows and settles everything with endReason.
  }

  /** Watch the oldest command in flight: its answer is the next one due. */
  private arm(): void {
    clearTimeout(this.watchdog);
    const ms = this.inflight[0]!.timeoutMs;
    this.watchdog = setTimeout(() => {
      const why = `no answer within ${Math.round(ms / 100) / 10} s (host hung or link dead)`;
      this.inflight.shift()?.reject(new CommandTimeout(why));
      this.kill(why);
    }, ms);
  }

  private onData(chunk: string): void {
    let start = 0;
    let nl = chunk.indexOf('\n');
    if (nl === -1) {
      this.partial += chunk;
      if (this.partial.length > MAX_LINE) this.partial = this.partial.slice(-MAX_LINE);
      return;
    }
    let line = this.partial + chunk.slice(0, nl);
    this.partial = '';
    for (;;) {
      this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
      if (nl === -1) break;
      line = chunk.slice(start, nl);
    }
    this.partial = chunk.slice(start);
  }

  private onLine(line: string): void {
    const a = this.parser.feed(line);
    if (!a) return;
    const head = this.inflight.shift();
    if (!head) {
      this.kill(`answer to no command: ${line.slice(0, 80)}`);
      return;
    }
    if (a.id !== undefined && a.id !== head.id) {
      // Out of step with the host: nothing after this can be trusted.
      head.reject(new SessionLost(`protocol out of step (answer ${a.id} for command ${head.id})`));
      this.kill('protocol out of step');
      return;
    }
    if (this.inflight.length) this.arm();
    else clearTimeout(this.watchdog);
    head.resolve(a);
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.watchdog);
    const why = this.endReason || reason;
    this.endReason = why;
    for (const f of this.inflight.splice(0)) f.reject(new SessionLost(why));
    for (const w of this.endWaiters.splice(0)) w(why);
  }
}

/** What an ended ssh says, in one line an administrator can act on. */
export function describeExit(stderr: string, code: number | null, signal: NodeJS.Signals | null): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.replace(/\r$/, '').trim())
    .filter((l) => l && !/^@+$/.test(l));
  if (stderr.includes('REMOTE HOST IDENTIFICATION HAS CHANGED')) {
    return 'host key changed: refused (if the change is expected, update known_hosts)';
  }
  if (/Host key verification failed/.test(stderr)) return 'host key not in known_hosts: refused';
  const last = lines[lines.length - 1];
  if (last) return last.length > 300 ? `${last.slice(0, 297)}...` : last;
  if (signal) return `ssh ended by ${signal}`;
  return code === 0 ? 'session closed' : `ssh exited with status ${code}`;
}
