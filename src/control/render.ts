import type { JailStatus } from '../jails/jail-status.js';
import { formatTimeValue } from '../config/time-value.js';
import type { BannedJson, ServiceStatus } from './jail-handlers.js';

/**
 * Human output of the control verbs, read like fail2ban-client's: the
 * status as a tree (`|-` and `` `- ``), lists as tables, times in the local
 * time zone, ages and durations as `3m 20s`. `--json` is the machine form
 * (docs/ARCHITECTURE.md); nothing here is meant to be parsed.
 *
 * Other parts of fleetban add fields to the status (counters of a jail,
 * sections of the service). Whatever is not named here is still shown, by
 * `tree`, under a label made from its key, so a new counter never needs a
 * change here to be seen.
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

/** `2025-03-01 13:00:00` in the local time zone, from ISO-8601 or ms since the epoch. */
export function localTime(t: string | number | null): string {
  if (t === null) return 'never';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A duration in ms as its two largest units: `45s`, `3m 20s`, `2h 5m`, `4d 1h`. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return 'for ever';
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = Math.floor(ms / 1000);
  const parts: [number, string][] = [];
  for (const [size, unit] of [
    [86400, 'd'],
    [3600, 'h'],
    [60, 'm'],
    [1, 's'],
  ] as const) {
    const n = Math.floor(s / size);
    s -= n * size;
    if (n > 0 || (parts.length > 0 && parts.length < 2)) parts.push([n, unit]);
  }
  return parts
    .slice(0, 2)
    .filter(([n], i) => n > 0 || i === 0)
    .map(([n, u]) => `${n}${u}`)
    .join(' ');
}

/** A moment and how long ago (or ahead) it is: `2025-03-01 13:00:00 (5m ago)`. */
export function moment(t: string | number | null, now = Date.now()): string {
  if (t === null) return 'never';
  const ms = typeof t === 'number' ? t : Date.parse(t);
  if (Number.isNaN(ms)) return String(t);
  const d = ms - now;
  return `${localTime(ms)} (${d <= 0 ? `${duration(-d)} ago` : `in ${duration(d)}`})`;
}

// ---- trees -------------------------------------------------------------

/** One node of a status tree: a label, a value after it, and children below. */
export interface TreeNode {
  label: string;
  value?: string;
  children?: TreeNode[];
}

/** fail2ban-client's layout: `|- ` for all but the last child, `` `- `` for the last, values aligned per level. */
export function renderTree(root: TreeNode): string {
  const out: string[] = [root.value === undefined ? root.label : `${root.label}: ${root.value}`];
  const walk = (nodes: TreeNode[], indent: string): void => {
    const width = Math.max(0, ...nodes.filter((n) => n.value !== undefined).map((n) => n.label.length + 1));
    nodes.forEach((n, i) => {
      const last = i === nodes.length - 1;
      const head = `${indent}${last ? '`- ' : '|- '}`;
      out.push(n.value === undefined ? head + n.label : `${head}${(n.label + ':').padEnd(width)} ${n.value}`.trimEnd());
      if (n.children?.length) walk(n.children, indent + (last ? '   ' : '|  '));
    });
  };
  walk(root.children ?? [], '');
  return out.join('\n') + '\n';
}

/** `lastErrorAt` -> `Last error at`, `too_long` -> `Too long`. */
export function labelOf(key: string): string {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .toLowerCase()
    .trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Keys whose numbers are moments (ms since the epoch) or durations (ms). */
const MOMENT_KEY = /(^|[a-z])(since|until|at|time|seen|updated|started|last)$|At$|Seen$|Since$|Time$/i;
const DURATION_KEY = /Ms$|_ms$|latency|age$/i;

/** A scalar shown in a tree or a table cell. */
export function scalar(key: string, v: unknown, now = Date.now()): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') {
    // A moment between 2001 and 2286 written in ms: show it as local time and age.
    if (MOMENT_KEY.test(key) && v > 1e12 && v < 1e13) return moment(v, now);
    if (DURATION_KEY.test(key)) return duration(v);
    return String(v);
  }
  if (typeof v === 'string') {
    if (MOMENT_KEY.test(key) && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v)) return moment(v, now);
    return v;
  }
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.every((x) => typeof x !== 'object' || x === null) ? v.map((x) => scalar(key, x, now)).join(', ') || '-' : `${v.length} items`;
  return JSON.stringify(v);
}

/** Counters by reason (`{"framing":1,"too-long":2}`) as `3 (framing 1, too-long 2)`. */
function countsByReason(v: Record<string, unknown>): string | undefined {
  const entries = Object.entries(v);
  if (!entries.every(([, n]) => typeof n === 'number')) return undefined;
  const total = entries.reduce((s, [, n]) => s + (n as number), 0);
  const nonZero = entries.filter(([, n]) => (n as number) > 0);
  return nonZero.length === 0 ? String(total) : `${total} (${nonZero.map(([k, n]) => `${k} ${n}`).join(', ')})`;
}

/** Any value as tree nodes: records become subtrees, lists of records one subtree per item. */
export function treeOf(key: string, v: unknown, now = Date.now(), name?: string): TreeNode {
  const label = name ?? labelOf(key);
  if (Array.isArray(v) && v.length > 0 && v.every(isRecord)) {
    return { label, value: String(v.length), children: v.map((r, i) => treeOf('', omitName(r), now, itemName(r, i))) };
  }
  if (isRecord(v)) {
    const entries = Object.entries(v);
    if (entries.length === 0) return { label, value: '-' };
    // A counter family (dropped by reason) on one line.
    const counts = countsByReason(v);
    if (counts !== undefined && /dropped|reasons?$/i.test(key)) return { label, value: counts };
    return { label, children: entries.map(([k, x]) => treeOf(k, x, now)) };
  }
  return { label, value: scalar(key, v, now) };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function itemName(r: Record<string, unknown>, i: number): string {
  for (const k of ['name', 'jail', 'host', 'node', 'listener', 'address']) if (typeof r[k] === 'string') return r[k] as string;
  return String(i + 1);
}

function omitName(r: Record<string, unknown>): Record<string, unknown> {
  const name = itemName(r, 0);
  return Object.fromEntries(Object.entries(r).filter(([, x]) => x !== name));
}

// ---- the verbs -----------------------------------------------------------

/** Keys of JailStatus laid out by renderJailStatus itself; any other key is shown in its branch. */
const JAIL_KEYS = new Set([
  'jail', 'filter', 'scope', 'sources', 'maxRetry', 'findTime', 'banTime', 'currentlyFailed', 'totalFailed',
  'currentlyBanned', 'totalBanned', 'ignored', 'forged', 'bannedIps',
]);

/** `fleetban status JAIL`, as `fail2ban-client status JAIL`. */
export function renderJailStatus(s: JailStatus, now = Date.now()): string {
  const banned = s.bannedIps ?? [];
  // Counters other parts add (ambiguous lines, too long, too slow, ...) go under Filter, the rest under Actions.
  const extra = Object.entries(s as unknown as Record<string, unknown>).filter(([k]) => !JAIL_KEYS.has(k));
  const filterExtra = extra.filter(([, v]) => typeof v === 'number' || isRecord(v)).map(([k, v]) => treeOf(k, v, now));
  const actionExtra = extra.filter(([, v]) => !(typeof v === 'number' || isRecord(v))).map(([k, v]) => treeOf(k, v, now));
  const kv = (label: string, value: string | number): TreeNode => ({ label, value: String(value) });
  return renderTree({
    label: `Status for the jail: ${s.jail}`,
    children: [
      {
        label: 'Filter',
        children: [
          kv('Filter', s.filter ?? '(none: fed by bans)'),
          kv('Sources', s.sources.length ? s.sources.join(', ') : 'all'),
          kv('Currently failed', s.currentlyFailed),
          kv('Total failed', s.totalFailed),
          kv('Ignored', s.ignored),
          kv('Forged stamps', s.forged),
          ...filterExtra,
        ],
      },
      {
        label: 'Actions',
        children: [
          kv('Scope', s.scope),
          kv('Ban time', `${s.banTime < 0 ? 'for ever' : formatTimeValue(s.banTime)} (${s.maxRetry} failures within ${formatTimeValue(s.findTime)})`),
          kv('Currently banned', s.currentlyBanned),
          kv('Total banned', s.totalBanned),
          ...actionExtra,
          kv('Banned IP list', banned.join(' ')),
        ],
      },
    ],
  });
}

/**
 * `fleetban status`: fail2ban-client's `Status` tree (number of jails, jail
 * list) with the service's own sections below it, then one line per jail.
 */
export function renderStatus(s: ServiceStatus, now = Date.now()): string {
  const jails = s.jails ?? [];
  const children: TreeNode[] = [
    { label: 'Number of jail', value: String(jails.length) },
    { label: 'Jail list', value: jails.map((j) => j.jail).join(', ') || '-' },
  ];
  for (const [k, v] of Object.entries(s)) {
    if (k === 'jails') continue;
    children.push(k === 'listeners' && isRecord(v) ? listenersTree(v) : k === 'hosts' && Array.isArray(v) ? hostsTree(v, now) : treeOf(k, v, now));
  }
  let out = renderTree({ label: 'Status', children });
  if (jails.length > 0) out += '\n' + renderJails(jails);
  return out;
}

/** Listeners on one line each: `udp 0.0.0.0:514: received 5, parsed 5, dropped 1 (parse 1)`. */
function listenersTree(v: Record<string, unknown>): TreeNode {
  const children = Object.entries(v).map(([name, c]): TreeNode => {
    if (!isRecord(c)) return { label: name, value: scalar(name, c) };
    const parts: string[] = [];
    for (const [k, x] of Object.entries(c)) {
      if (isRecord(x)) parts.push(`${k} ${countsByReason(x) ?? JSON.stringify(x)}`);
      else parts.push(`${k} ${scalar(k, x)}`);
    }
    return { label: name, value: parts.join(', ') };
  });
  return children.length ? { label: 'Listeners', value: String(children.length), children } : { label: 'Listeners', value: 'none' };
}

function hostsTree(list: unknown[], now: number): TreeNode {
  const records = list.filter(isRecord);
  const up = records.filter((h) => h.connected === true || h.state === 'connected').length;
  return {
    label: 'Hosts',
    value: `${records.length} (${up} connected)`,
    children: records.map((h) => ({
      label: String(h.name ?? '?'),
      value: [
        `${h.state ?? (h.connected ? 'connected' : 'down')}${typeof h.since === 'number' ? ` for ${duration(now - h.since)}` : ''}`,
        `pending ${h.pending ?? 0}`,
        `applied ${h.applied ?? 0}`,
        `failed ${h.failed ?? 0}`,
        ...(h.lastError ? [`last error ${typeof h.lastErrorAt === 'number' ? duration(now - h.lastErrorAt) + ' ago' : ''}: ${String(h.lastError)}`] : []),
      ].join(', '),
    })),
  };
}

/** One line per jail, the columns of fail2ban-client's status tree. */
export function renderJails(jails: JailStatus[]): string {
  return table(
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
  );
}

/** `fleetban banned`: one line per ban, local times, time left, the state on each host. */
export function renderBanned(list: BannedJson[], now = Date.now()): string {
  if (list.length === 0) return 'No bans.\n';
  return table(
    ['JAIL', 'IP', 'SINCE', 'UNTIL', 'LEFT', 'COUNT', 'HOSTS'],
    list.map((b) => [
      b.jail,
      b.ip,
      localTime(b.since),
      b.until === null ? 'for ever' : localTime(b.until),
      b.until === null ? '-' : duration(Date.parse(b.until) - now),
      String(b.count),
      Object.entries(b.hosts)
        .sort(([a], [b2]) => a.localeCompare(b2))
        .map(([h, st]) => `${h}=${st}`)
        .join(' ') || '-',
    ]),
  );
}

/**
 * `fleetban hosts`: one line per mail server. The fleet's fields are named;
 * any field another part adds gets a column of its own at the end.
 */
export function renderHosts(hosts: unknown, now = Date.now()): string {
  if (!Array.isArray(hosts)) return renderValue(undefined, hosts);
  const records = hosts.filter(isRecord);
  if (records.length === 0) return 'No hosts in fleet.conf.\n';
  const known = ['name', 'address', 'driver', 'groups', 'connected', 'state', 'since', 'pending', 'applied', 'failed', 'lastError', 'lastErrorAt'];
  const extra = [...new Set(records.flatMap((r) => Object.keys(r)))].filter((k) => !known.includes(k));
  return table(
    ['NAME', 'ADDRESS', 'STATE', 'FOR', 'PENDING', 'APPLIED', 'FAILED', ...extra.map((k) => labelOf(k).toUpperCase()), 'LAST ERROR'],
    records.map((h) => [
      String(h.name ?? '-'),
      String(h.address ?? '-'),
      String(h.state ?? (h.connected ? 'connected' : 'down')),
      typeof h.since === 'number' ? duration(now - h.since) : '-',
      String(h.pending ?? 0),
      String(h.applied ?? 0),
      String(h.failed ?? 0),
      ...extra.map((k) => scalar(k, h[k], now)),
      h.lastError ? `${typeof h.lastErrorAt === 'number' ? `${localTime(h.lastErrorAt)} ` : ''}${String(h.lastError)}` : '-',
    ]),
  );
}

/**
 * Anything else the service answers (reload's summary): a list of flat
 * records as a table, a record as a tree.
 */
export function renderValue(title: string | undefined, v: unknown, now = Date.now()): string {
  if (Array.isArray(v)) {
    const head = title ? `${title}:\n` : '';
    if (v.length === 0) return head + '  (none)\n';
    if (v.every(isRecord)) {
      const records = v as Record<string, unknown>[];
      const cols = [...new Set(records.flatMap((r) => Object.keys(r)))];
      return head + table(cols.map((c) => labelOf(c).toUpperCase()), records.map((r) => cols.map((c) => scalar(c, r[c], now))));
    }
    return head + v.map((x) => `  ${scalar(title ?? '', x, now)}\n`).join('');
  }
  if (isRecord(v)) {
    const t = treeOf(title ?? '', v, now);
    return renderTree(title ? t : { label: '', children: t.children ?? [] }).replace(/^\n/, '');
  }
  return title ? `${title}: ${scalar(title, v, now)}\n` : `${scalar('', v, now)}\n`;
}
