// Small DOM and formatting helpers for the status page. Every text that
// comes from the service (log lines, user names: attacker-written) goes in
// as textContent, never as HTML.

/** h('td', {class: 'num'}, 'text', childNode, ...) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** A table from headers and rows of cells (strings, numbers or nodes). */
export function table(headers, rows, empty = 'Nothing here.') {
  if (rows.length === 0) return h('p', { class: 'muted' }, empty);
  return h(
    'table',
    {},
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', { class: typeof c === 'number' ? 'num' : undefined }, c))))),
  );
}

const p2 = (n) => String(n).padStart(2, '0');

/** Local time, as the CLI prints it. */
export function localTime(t) {
  if (t === null || t === undefined) return 'never';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}

/** 45s, 3m 20s, 2h 5m, 4d 1h */
export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return 'for ever';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  let s = Math.floor(ms / 1000);
  const parts = [];
  for (const [size, unit] of [[86400, 'd'], [3600, 'h'], [60, 'm'], [1, 's']]) {
    const n = Math.floor(s / size);
    s -= n * size;
    if (n > 0 || parts.length > 0) parts.push(`${n}${unit}`);
  }
  return parts.slice(0, 2).join(' ');
}

export function ago(t, now = Date.now()) {
  if (t === null || t === undefined) return 'never';
  return `${duration(now - t)} ago`;
}

/** A coloured label: ok, warn, bad, muted. */
export function badge(text, kind) {
  return h('span', { class: `badge ${kind}` }, text);
}

export function stateBadge(state) {
  const kind = { acknowledged: 'ok', applied: 'ok', connected: 'ok', pending: 'warn', connecting: 'warn', waiting: 'bad', failed: 'bad', 'no-hosts': 'muted' }[state] ?? 'muted';
  return badge(state, kind);
}

/** Count objects ({name: n}) as "name (n), ..." */
export function tally(obj) {
  return Object.entries(obj ?? {})
    .sort(([, a], [, b]) => b - a)
    .map(([k, n]) => `${k} (${n})`)
    .join(', ');
}

// ---- the service's API ----------------------------------------------------

export const session = { loginRequired: false, authenticated: false, writes: false, csrf: null };

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function getJson(path) {
  const r = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  const body = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw new ApiError(r.status, body.error ?? r.statusText);
  return body;
}

export async function postJson(path, body) {
  const headers = { 'content-type': 'application/json' };
  if (session.csrf) headers['x-fleetban-csrf'] = session.csrf;
  const r = await fetch(path, { method: 'POST', credentials: 'same-origin', headers, body: JSON.stringify(body) });
  const out = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw new ApiError(r.status, out.error ?? r.statusText);
  return out;
}
