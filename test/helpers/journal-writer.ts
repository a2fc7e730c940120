import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * A real systemd journal for tests, without journald: one
 * `systemd-journal-remote -o DIR/NAME.journal -` kept running, fed entries
 * in the Journal Export Format on its stdin. Each entry is written to the
 * journal file as soon as its terminating blank line arrives, and
 * `journalctl --directory=DIR -f` sees it within a millisecond or so.
 */

export const JOURNAL_REMOTE = '/lib/systemd/systemd-journal-remote';

const run = promisify(execFile);

/** A field value: text, or raw bytes (sent in the export format's length-prefixed binary form). */
export type ExportValue = string | Buffer;

/** One entry: field name -> value; an array repeats the field. `__REALTIME_TIMESTAMP` (µs) is filled in when absent. */
export type ExportEntry = Record<string, ExportValue | ExportValue[] | number | bigint>;

let lastStamp = 0n;

/** A realtime stamp in µs that never repeats or goes back within this process. */
export function nowMicros(): bigint {
  let t = BigInt(Date.now()) * 1000n;
  if (t <= lastStamp) t = lastStamp + 1n;
  lastStamp = t;
  return t;
}

/**
 * One entry in the Journal Export Format: `FIELD=value\n` for text without
 * a newline; otherwise `FIELD\n`, the length as a 64-bit little-endian
 * integer, the bytes, `\n`. A blank line ends the entry.
 */
export function encodeExportEntry(entry: ExportEntry): Buffer {
  const parts: Buffer[] = [];
  const fields = Object.entries(entry);
  if (!('__REALTIME_TIMESTAMP' in entry)) fields.unshift(['__REALTIME_TIMESTAMP', nowMicros()]);
  for (const [name, value] of fields) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      const bytes = Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'utf8');
      if (!Buffer.isBuffer(v) && !bytes.includes(10)) {
        parts.push(Buffer.from(`${name}=`, 'utf8'), bytes, Buffer.from('\n'));
      } else {
        const len = Buffer.alloc(8);
        len.writeBigUInt64LE(BigInt(bytes.length));
        parts.push(Buffer.from(`${name}\n`, 'utf8'), len, bytes, Buffer.from('\n'));
      }
    }
  }
  parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}

export class JournalWriter {
  private stderr = '';
  private exited: Promise<void>;

  private constructor(
    readonly dir: string,
    readonly file: string,
    private readonly child: ChildProcess,
    private readonly ownsDir: boolean,
  ) {
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Starts a writer into DIR/NAME (a new temporary folder when no dir is given). */
  static start(opts: { dir?: string; name?: string } = {}): JournalWriter {
    const ownsDir = !opts.dir;
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'fleetban-journal-'));
    const file = join(dir, opts.name ?? 'x.journal');
    const child = spawn(JOURNAL_REMOTE, ['-o', file, '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    return new JournalWriter(dir, file, child, ownsDir);
  }

  /** What journal-remote said on stderr (for failure messages). */
  get diagnostics(): string {
    return this.stderr;
  }

  /** Sends entries; resolves when journal-remote's stdin took them (not when they are on disk: see waitForEntries). */
  write(entries: ExportEntry | ExportEntry[]): Promise<void> {
    const list = Array.isArray(entries) ? entries : [entries];
    return this.writeRaw(Buffer.concat(list.map(encodeExportEntry)));
  }

  /** Sends bytes as they are (already in the export format). */
  writeRaw(bytes: Buffer): Promise<void> {
    const stdin = this.child.stdin!;
    return new Promise((resolve, reject) => {
      stdin.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Entries in the journal files of the folder, as their headers count them. */
  async entryCount(): Promise<number> {
    let n = 0;
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.journal')) continue;
      const { stdout } = await run('journalctl', ['--header', `--file=${join(this.dir, f)}`]);
      const m = /^Entry objects: (\d+)$/m.exec(stdout);
      if (m) n += Number(m[1]);
    }
    return n;
  }

  /** Waits until the journal holds at least n entries. */
  async waitForEntries(n: number, timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const have = await this.entryCount();
      if (have >= n) return;
      if (Date.now() > until) throw new Error(`journal holds ${have} entries, expected ${n}; journal-remote said: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Ends the input (journal-remote writes what it has and exits), then removes the folder if this writer made it. */
  async close(opts: { keep?: boolean } = {}): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin?.end();
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(killer);
    }
    if (this.ownsDir && !opts.keep) rmSync(this.dir, { recursive: true, force: true });
  }
}
