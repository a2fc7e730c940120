import type { JailStatus } from '../jails/jail-status.js';
import { formatTimeValue } from '../config/time-value.js';
import type { BannedJson } from './jail-handlers.js';

/**
 * Human output of the control verbs: plain tables and fail2ban-client's
 * status tree, so `fleetban status vpopmail` reads like
 * `fail2ban-client status vpopmail`.
 */

/** Left-aligned columns separated by two spaces. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** `2025-03-01 13:00:00` in the local time zone. */
export function localTime(iso: string | null): string {
  if (iso === null) return 'never';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function renderJailStatus(s: JailStatus): string {
  const banned = s.bannedIps ?? [];
  return [
    `Status for the jail: ${s.jail}`,
    `|- Filter`,
    `|  |- Filter:           ${s.filter ?? '(none: fed by bans)'}`,
    `|  |- Sources:          ${s.sources.length ? s.sources.join(', ') : 'all'}`,
    `|  |- Currently failed: ${s.currentlyFailed}`,
    `|  |- Total failed:     ${s.totalFailed}`,
    `|  |- Ignored:          ${s.ignored}`,
    `|  \`- Forged stamps:    ${s.forged}`,
    `\`- Actions`,
    `   |- Scope:            ${s.scope}`,
    `   |- Ban time:         ${formatTimeValue(s.banTime)} (${s.maxRetry} failures within ${formatTimeValue(s.findTime)})`,
    `   |- Currently banned: ${s.currentlyBanned}`,
    `   |- Total banned:     ${s.totalBanned}`,
    `   \`- Banned IP list:   ${banned.join(' ')}`,
  ].join('\n') + '\n';
}

export function renderJails(jails: JailStatus[]): string {
  const head = `Number of jails: ${jails.length}\n`;
  if (jails.length === 0) return head;
  return (
    head +
    table(
      ['JAIL', 'FILTER', 'FAILED', 'TOTAL FAILED', 'BANNED', 'TOTAL BANNED', 'IGNORED', 'SCOPE'],
      jails.map((j) => [
        j.jail,
        j.filter ?? '-',
        String(j.currentlyFailed),
        String(j.totalFailed),
        String(j.currentlyBanned),
        String(j.totalBanned),
        String(j.ignored),
        j.scope,
      ]),
    )
  );
}

export function renderBanned(list: BannedJson[]): string {
  if (list.length === 0) return 'No bans.\n';
  return table(
    ['JAIL', 'IP', 'SINCE', 'UNTIL', 'COUNT', 'HOSTS'],
    list.map((b) => [
      b.jail,
      b.ip,
      localTime(b.since),
      localTime(b.until),
      String(b.count),
      Object.entries(b.hosts)
        .sort(([a], [b2]) => a.localeCompare(b2))
        .map(([h, st]) => `${h}=${st}`)
        .join(' ') || '-',
    ]),
  );
}

/**
 * Anything else the service answers (its own status sections, `hosts`): a
 * list of flat records as a table, a record as `key: value` lines.
 */
export function renderValue(title: string | undefined, v: unknown): string {
  const head = title ? `${title}:\n` : '';
  if (Array.isArray(v)) {
    if (v.length === 0) return head + '  (none)\n';
    if (v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x))) {
      const records = v as Record<string, unknown>[];
      const cols = [...new Set(records.flatMap((r) => Object.keys(r)))];
      return head + table(cols.map((c) => c.toUpperCase()), records.map((r) => cols.map((c) => cell(r[c]))));
    }
    return head + v.map((x) => `  ${cell(x)}\n`).join('');
  }
  if (typeof v === 'object' && v !== null) {
    return head + Object.entries(v).map(([k, x]) => `  ${k}: ${cell(x)}\n`).join('');
  }
  return title ? `${title}: ${cell(v)}\n` : `${cell(v)}\n`;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return v.map(cell).join(',') || '-';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
