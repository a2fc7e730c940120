import type { Logger } from 'pino';

/**
 * Lines a filter could not use, counted per jail (each jail has its own
 * Filter) and shown in `fleetban status` and /metrics, so no line is lost
 * without a trace:
 * - ambiguous: the line names an address, but the attacker-written part
 *   before it allows a second reading (vchkpw's raw logins): nobody is banned;
 * - tooLong: longer than MAX_TEXT; only its start was matched;
 * - tooSlow: a regex did not finish it even in the retry worker, with a
 *   budget far above any real line's (see regex-guard.ts): not matched;
 * - retried: cut by the hot path's time limit and handed to the retry
 *   worker (informational: those that finished there were matched);
 * - hostName: a failregex matched a host name, not an address (`usedns`
 *   other than `no`): names from logs are never resolved, nobody is banned.
 * - multilineEvicted: a multi-line filter's memory was full (multi-line.ts):
 *   the least recently used connection (`<F-MLFID>`) or server buffer was
 *   forgotten before it ended, so its later lines are matched without its
 *   earlier ones (an attacker opening connections by the million does this).
 */
export interface FilterLosses {
  ambiguous: number;
  tooLong: number;
  tooSlow: number;
  retried: number;
  hostName: number;
  multilineEvicted: number;
}

export function emptyLosses(): FilterLosses {
  return { ambiguous: 0, tooLong: 0, tooSlow: 0, retried: 0, hostName: 0, multilineEvicted: 0 };
}

/** Where a filter reports lost lines (LossLog in the service; the retry worker collects them). */
export interface LossSink {
  ambiguous(candidates: readonly string[], line: string): void;
  lost(kind: 'tooLong' | 'tooSlow', detail: Record<string, unknown>): void;
}

/** Addresses remembered for "log once per address"; past this the memory starts afresh. */
const REMEMBERED = 10_000;
/** Lines too long or too slow are logged at most this often per jail and kind, with the count since. */
const SUMMARY_MS = 60_000;

/**
 * The log lines a jail writes about lost lines. An attacker can send
 * thousands of them, so an ambiguous line is logged once per address
 * (the shortest reading, which is a part of the true address), and too
 * long or too slow lines once a minute with how many came since.
 */
export class LossLog implements LossSink {
  private readonly seen = new Set<string>();
  private readonly last = new Map<'tooLong' | 'tooSlow', { at: number; since: number }>();

  constructor(private readonly logger: Logger) {}

  ambiguous(candidates: readonly string[], line: string): void {
    const key = candidates[0] ?? '';
    if (this.seen.has(key)) return;
    if (this.seen.size >= REMEMBERED) this.seen.clear();
    this.seen.add(key);
    this.logger.warn(
      { candidates, line: clip(line) },
      'ambiguous address: the login before it can be read as part of it; no ban (counted as ambiguous)',
    );
  }

  lost(kind: 'tooLong' | 'tooSlow', detail: Record<string, unknown>, now = Date.now()): void {
    const l = this.last.get(kind);
    if (l && now - l.at < SUMMARY_MS) {
      l.since++;
      return;
    }
    const since = l ? l.since : 0;
    this.last.set(kind, { at: now, since: 0 });
    const msg =
      kind === 'tooLong'
        ? 'line longer than the filter limit: only its start was matched (counted as tooLong)'
        : 'a regex did not finish this line even with the long retry budget: not matched (counted as tooSlow)';
    this.logger.warn({ ...detail, ...(since > 0 ? { moreSinceLastLog: since } : {}) }, msg);
  }
}

function clip(line: string): string {
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
