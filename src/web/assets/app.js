// The status page: a view per location hash, refreshed every few seconds
// without a reload (polling: simple, and the service answers each view
// live from memory).
import { h, session, getJson, postJson, ApiError } from './dom.js';
import { views } from './views.js';
import { prunePlots } from './plots.js';
import { applyStyle } from './style.js';

export const POLL_MS = 3000;

const main = document.getElementById('main');
const updated = document.getElementById('updated');
let current = null;
let timer = null;
let inFlight = false;
// A refresh asked for while one is on its way (a click on "last week" as the
// page loads) runs when it is back, not at the next poll 3 s later.
let again = false;

function route() {
  const [name, arg] = (location.hash.slice(1) || 'overview').split('/');
  const view = views[name] ?? views.overview;
  if (name === 'attacker') view.state.ip = decodeURIComponent(arg ?? '');
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('href') === `#${name === 'attacker' ? 'attackers' : name}`);
  current = view;
  view.build(main, refresh);
  prunePlots();
  refresh();
}

async function refresh() {
  if (!current) return;
  if (inFlight) {
    again = true;
    return;
  }
  inFlight = true;
  const view = current;
  try {
    const d = await getJson(view.url(view.state));
    if (view === current) {
      view.update(d, refresh);
      updated.textContent = `Updated ${new Date().toLocaleTimeString()} · node ${d.node ?? ''}`.replace(/ · node $/, '');
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      session.authenticated = false;
      showLogin();
    } else {
      updated.textContent = `Update failed: ${err.message}`;
    }
  } finally {
    inFlight = false;
    if (again) {
      again = false;
      refresh();
    }
  }
}

function sessionBar() {
  const el = document.getElementById('session');
  if (!session.loginRequired) {
    el.textContent = 'read-only (loopback)';
    return;
  }
  el.replaceChildren(
    session.authenticated ? (session.writes ? 'logged in · writes on' : 'logged in · read-only') : 'not logged in',
    session.authenticated ? h('button', { type: 'button', class: 'secondary', onclick: logout }, 'Log out') : '',
  );
}

function showLogin(message = '') {
  current = null;
  sessionBar();
  const token = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', size: 40 });
  const msg = h('p', { class: 'error', id: 'login-error' }, message);
  main.replaceChildren(h('div', { class: 'panel login' },
    h('h2', {}, 'Log in'),
    h('p', { class: 'muted' }, 'Type the token of [web] token_file.'),
    h('form', { id: 'login-form', onsubmit: async (e) => {
      e.preventDefault();
      try {
        const r = await postJson('/api/login', { token: token.value });
        Object.assign(session, { authenticated: true, writes: r.writes, csrf: r.csrf });
        sessionBar();
        route();
      } catch (err) {
        msg.textContent = err.message;
      }
    } }, token, ' ', h('button', { type: 'submit' }, 'Log in')),
    msg));
  token.focus();
}

async function logout() {
  await postJson('/api/logout', {}).catch(() => undefined);
  Object.assign(session, { authenticated: false, csrf: null });
  showLogin();
}

async function start() {
  applyStyle();
  Object.assign(session, await getJson('/api/session'));
  sessionBar();
  window.addEventListener('hashchange', () => (session.loginRequired && !session.authenticated ? showLogin() : route()));
  if (session.loginRequired && !session.authenticated) showLogin();
  else route();
  timer = setInterval(refresh, POLL_MS);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
}

start().catch((err) => main.replaceChildren(h('p', { class: 'error' }, `The page could not start: ${err.message}`)));
