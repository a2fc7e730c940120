import type { MessageCounts } from '../service/metrics.js';

/** Where the history reads the service's cumulative counters. */
export interface CounterSources {
  jails(): { jail: string; totalFailed: number; totalBanned: number }[];
  /** Per listener (and the journal). */
  sources(): MessageCounts[];
  /** Per sending address. */
  senders(): MessageCounts[];
}

/**
 * Senders kept one by one in the history; the others are summed under
 * `other`. The listeners track up to 10,000 senders (forged UDP sources
 * included): a row per minute for each would be 200 million rows in 14 days.
 */
export const HISTORY_SENDERS = 200;

/**
 * The counters as series names, as the history stores them:
 *   failures|JAIL, bans|JAIL
 *   source.received|LISTENER, source.parsed|LISTENER, source.dropped|LISTENER|REASON
 *   sender.received|ADDRESS, sender.parsed|ADDRESS, sender.dropped|ADDRESS|REASON
 */
export function counterSeries(s: CounterSources, maxSenders = HISTORY_SENDERS): Map<string, number> {
  const out = new Map<string, number>();
  for (const j of s.jails()) {
    out.set(`failures|${j.jail}`, j.totalFailed);
    out.set(`bans|${j.jail}`, j.totalBanned);
  }
  const add = (k: string, v: number) => out.set(k, (out.get(k) ?? 0) + v);
  const put = (kind: string, name: string, c: MessageCounts) => {
    add(`${kind}.received|${name}`, c.received);
    add(`${kind}.parsed|${name}`, c.parsed);
    for (const [reason, n] of Object.entries(c.dropped)) if (n > 0) add(`${kind}.dropped|${name}|${reason}`, n);
  };
  for (const c of s.sources()) put('source', c.name, c);
  const senders = [...s.senders()].sort((a, b) => b.received - a.received || a.name.localeCompare(b.name));
  senders.forEach((c, i) => put('sender', i < maxSenders ? c.name : 'other', c));
  return out;
}
