import type { JournalConfig } from '../../config/service-config.js';
import { JOURNAL_FIELDS } from './journal-entry.js';

/**
 * The command lines fleetban gives journalctl. Every argument is one argv
 * element (execa runs no shell), so a cursor or a match value is never
 * parsed by a shell.
 */

/** Where journalctl reads: `--directory=`, `--file=`, or the local journal. */
export function sourceArgs(cfg: JournalConfig): string[] {
  if (cfg.directory) return [`--directory=${cfg.directory}`];
  if (cfg.file) return [`--file=${cfg.file}`];
  return [];
}

/** The journal in words, for log lines and errors. */
export function describeSource(cfg: JournalConfig): string {
  if (cfg.directory) return `journal directory ${cfg.directory}`;
  if (cfg.file) return `journal file ${cfg.file}`;
  return 'local journal';
}

/**
 * Options every invocation shares:
 * - `--merge`: read every journal file there. journalctl 252 makes `-f`
 *   imply `--boot` (the boot running now) unless `--merge` is given, and a
 *   journal-remote directory holds the mail servers' boots, never this
 *   host's: without it journalctl refuses with "No such boot ID". On the
 *   local journal it also keeps the entries of the previous boot that follow
 *   a saved cursor, and includes the remote journals journald's folder holds.
 * - `--all`: long values come whole instead of as null (a message over
 *   4096 bytes must not hide a failure); the line reader bounds the size.
 * - `--output-fields`: only what a LogEvent needs (journalctl always adds
 *   the cursor and timestamps); a journald entry has some 25 fields.
 */
function commonArgs(cfg: JournalConfig): string[] {
  return [...sourceArgs(cfg), '--merge', '--no-pager', '-o', 'json', '--all', `--output-fields=${JOURNAL_FIELDS.join(',')}`];
}

/** Where the follower starts reading. */
export type StartPosition =
  /** After the entry with this cursor: the last one handled, or the journal's tail when first started. */
  | { kind: 'after-cursor'; cursor: string }
  /** From this time (ms since the epoch): a first start with `since` configured. */
  | { kind: 'since'; ms: number }
  /** From the first entry: a first start on a journal that had none, so all it will hold is new. */
  | { kind: 'head' };

/**
 * `journalctl -f` from `pos`, keeping the entries that satisfy `matches`
 * (an OR of AND-groups; none: every entry).
 *
 * `--no-tail` matters: journalctl 252 applies `-n 10` to `-f` unless
 * `--since` is given, even with `--after-cursor`, and would silently skip
 * all but the last ten entries written while fleetban was stopped.
 */
export function followArgs(cfg: JournalConfig, pos: StartPosition, matches: string[][]): string[] {
  const args = [...commonArgs(cfg), '--follow', '--no-tail'];
  if (pos.kind === 'after-cursor') args.push(`--after-cursor=${pos.cursor}`);
  else if (pos.kind === 'since') args.push(`--since=@${Math.floor(pos.ms / 1000)}`);
  args.push(...matchArgs(matches));
  return args;
}

/** The journal's last entry, to start after it (no matches: the tail of everything). */
export function tailArgs(cfg: JournalConfig): string[] {
  return [...sourceArgs(cfg), '--merge', '--no-pager', '-o', 'json', '--output-fields=__CURSOR', '-n', '1'];
}

/**
 * journalctl's match syntax: terms of one group are ANDed (terms on the
 * same field are ORed, as fail2ban's python-systemd matches are), `+`
 * between groups ORs them.
 */
export function matchArgs(matches: string[][]): string[] {
  const out: string[] = [];
  for (const group of matches) {
    if (group.length === 0) continue;
    if (out.length > 0) out.push('+');
    for (const term of group) {
      if (!/^[A-Z0-9_]+=/.test(term)) throw new Error(`not a FIELD=value journal match: ${JSON.stringify(term)}`);
      out.push(term);
    }
  }
  return out;
}

/**
 * The matches for a set of jails: the OR of their journalmatch groups,
 * or none (every entry) as soon as one jail that reads the journal has no
 * journalmatch, because that jail must see every entry.
 */
export function combineJournalMatches(perJail: readonly (readonly (readonly string[])[])[]): string[][] {
  const out: string[][] = [];
  const seen = new Set<string>();
  for (const groups of perJail) {
    const nonEmpty = groups.filter((g) => g.length > 0);
    if (nonEmpty.length === 0) return [];
    for (const g of nonEmpty) {
      const key = [...g].sort().join('\u0000');
      if (seen.has(key)) continue;
      seen.add(key);
      out.push([...g]);
    }
  }
  return out;
}

/** Cursors journalctl writes look like `s=…;i=…;b=…;m=…;t=…;x=…`; anything else is refused before it reaches journalctl. */
export function isCursor(s: string): boolean {
  return s.length <= 512 && /^[a-z]=[0-9a-f]+(?:;[a-z]=[0-9a-f]+)*$/.test(s);
}
