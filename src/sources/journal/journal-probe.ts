import { journalctlRunner } from './journalctl-runner.js';
import type { JournalConfig } from '../../config/service-config.js';
import { sourceArgs, tailArgs } from './journalctl-args.js';

/** What one look at the journal found, before following it. */
export type ProbeResult =
  /** Readable; `tail` is the cursor of its last entry (undefined: it has none yet). */
  | { kind: 'ok'; tail?: string }
  /** Readable, but there are no journal files (yet). */
  | { kind: 'no-files'; detail: string }
  /** journalctl could not be run. */
  | { kind: 'no-journalctl'; detail: string }
  /** journalctl ran and could not read the journal (permissions, no such folder or file). */
  | { kind: 'unreadable'; detail: string };

/** The last non-empty line of a text, trimmed (journalctl's diagnostics end with the one that matters). */
export function lastLine(text: string): string {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!.trim();
    if (l) return l.length > 500 ? l.slice(0, 500) + '…' : l;
  }
  return '';
}

/**
 * Asks journalctl for the last entry of the configured journal. The answer
 * tells whether the journal can be read at all, and gives the cursor a first
 * start follows from, so that no entry written between this look and the
 * follower's start is missed.
 */
export async function probeJournal(journalctl: string, cfg: JournalConfig, timeoutMs = 15_000): Promise<ProbeResult> {
  const execa = await journalctlRunner();
  const r = await execa(journalctl, tailArgs(cfg), {
    reject: false,
    stdin: 'ignore',
    timeout: timeoutMs,
    maxBuffer: 1024 * 1024,
    stripFinalNewline: true,
  });
  const stderr = typeof r.stderr === 'string' ? r.stderr : '';
  const stdout = typeof r.stdout === 'string' ? r.stdout : '';
  const spawnCode = 'code' in r ? (r as { code?: unknown }).code : undefined;
  if (r.exitCode === undefined && r.signal === undefined && !r.timedOut) {
    return { kind: 'no-journalctl', detail: `${journalctl}: ${typeof spawnCode === 'string' ? spawnCode : r.shortMessage ?? 'cannot run'}` };
  }
  if (r.timedOut) return { kind: 'unreadable', detail: `journalctl did not answer within ${timeoutMs} ms` };
  // journalctl exits 0 for "insufficient permissions" on some files and reads the rest; none readable is an error.
  if (r.exitCode !== 0 || /insufficient permissions|Permission denied/.test(stderr)) {
    return { kind: 'unreadable', detail: lastLine(stderr) || `journalctl exited with ${r.exitCode ?? r.signal}` };
  }
  const line = lastLine(stdout);
  if (!line) {
    // No entry. journalctl says whether that is for lack of files only in its text output.
    const t = await execa(journalctl, [...sourceArgs(cfg), '--merge', '--no-pager', '-n', '0'], {
      reject: false,
      stdin: 'ignore',
      timeout: timeoutMs,
    });
    const notice = typeof t.stderr === 'string' ? t.stderr : '';
    if (/No journal files were found/.test(notice)) return { kind: 'no-files', detail: lastLine(notice) };
    return { kind: 'ok' };
  }
  try {
    const entry = JSON.parse(line) as { __CURSOR?: unknown };
    return typeof entry.__CURSOR === 'string' ? { kind: 'ok', tail: entry.__CURSOR } : { kind: 'ok' };
  } catch {
    return { kind: 'unreadable', detail: `journalctl printed something that is not JSON: ${line.slice(0, 200)}` };
  }
}
