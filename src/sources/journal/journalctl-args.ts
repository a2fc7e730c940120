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
 *   a saved cursor, and reads the journal files of other machines stored there.
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
  /** After the entry with this cursor: the last one handled, or the journal's tail when first started (journalctl starts at it; the follower drops it). */
  | { kind: 'after-cursor'; cursor: string }
  /** From this time (ms since the epoch): a first start with `since` configured. */
  | { kind: 'since'; ms: number }
  /** From the first entry: a first start on a journal that had none, so all it will hold is new. */
  | { kind: 'head' };

/**
 * `journalctl -f` from `pos`, keeping the entries that satisfy `matches`
 * (an OR of AND-groups; none: every entry).
 *
 * Two traps of journalctl 252 that lose entries silently:
 * - `-f` implies `-n 10` unless `--since` is given, even with a cursor:
 *   all but the last ten entries written while fleetban was stopped would
 *   be skipped. `--no-tail` turns that off.
 * - `--after-cursor=C` seeks to C and then steps over two matching
 *   entries, assuming the first is C. When C does not satisfy the matches
 *   (the journal's tail at a first start, or any entry after the matches
 *   changed on reload) the first entry that does is skipped. So the
 *   follower passes `--cursor=C`, which starts AT C, and drops the first
 *   entry it reads when that is C itself (see JournalFollower).
 */
export function followArgs(cfg: JournalConfig, pos: StartPosition, matches: string[][]): string[] {
  const args = [...commonArgs(cfg), '--follow', '--no-tail'];
  if (pos.kind === 'after-cursor') args.push(`--cursor=${pos.cursor}`);
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

/**
 * Whether two cursors name the same entry: the same text, or the same
 * journal (`s=`, its sequence number id) and sequence number (`i=`).
 */
export function sameEntry(a: string, b: string): boolean {
  if (a === b) return true;
  const s = (c: string, k: string) => new RegExp(`(?:^|;)${k}=([0-9a-f]+)`).exec(c)?.[1];
  const sa = s(a, 's');
  const ia = s(a, 'i');
  return sa !== undefined && ia !== undefined && sa === s(b, 's') && ia === s(b, 'i');
}
