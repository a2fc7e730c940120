// The views of the status page. Each builds its frame once (build) and
// fills it from the service's JSON on every poll (update), so tables
// refresh in place and plots keep their canvas.
import { h, table, localTime, duration, ago, badge, stateBadge, tally, session, postJson } from './dom.js';
import { plot } from './plots.js';

const RANGES = ['hour', 'day', 'week'];

function rangePicker(state, onChange) {
  const seg = h('span', { class: 'seg' });
  const draw = () =>
    seg.replaceChildren(
      ...RANGES.map((r) => h('button', { type: 'button', class: r === state.range ? 'on' : '', onclick: () => { state.range = r; draw(); onChange(); } }, `last ${r}`)),
    );
  draw();
  return seg;
}

function card(label, n, kind = '') {
  return h('div', { class: `card ${kind}` }, h('div', { class: 'n' }, String(n)), h('div', { class: 'l' }, label));
}

function hostStates(hosts) {
  const entries = Object.entries(hosts ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return badge('no hosts', 'muted');
  return h('span', {}, entries.map(([host, st]) => h('span', { title: `${host}: ${st}` }, `${host} `, stateBadge(st), ' ')));
}

function ipLink(ip) {
  return h('a', { href: `#attacker/${encodeURIComponent(ip)}` }, ip);
}

/** Unban button, shown when the page may write. */
function unbanButton(jail, ip, refresh) {
  if (!session.writes || !session.authenticated) return '';
  return h('button', {
    type: 'button',
    class: 'danger',
    'data-unban': `${jail} ${ip}`,
    onclick: async (e) => {
      e.target.disabled = true;
      try {
        await postJson('/api/unban', { jail, ip });
        refresh();
      } catch (err) {
        alert(`Unban failed: ${err.message}`);
        e.target.disabled = false;
      }
    },
  }, 'Unban');
}

function banForm(jails, refresh) {
  if (!session.writes || !session.authenticated) return h('span');
  const jail = h('select', { name: 'jail' }, jails.map((j) => h('option', { value: j }, j)));
  const ip = h('input', { name: 'ip', placeholder: 'address to ban', size: 22 });
  const msg = h('span', { class: 'muted' });
  return h('form', {
    class: 'toolbar',
    id: 'ban-form',
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        const r = await postJson('/api/ban', { jail: jail.value, ip: ip.value });
        msg.textContent = r.already ? `${r.ip} was already banned` : `Banned ${r.ip} in ${r.jail}`;
        ip.value = '';
        refresh();
      } catch (err) {
        msg.textContent = `Ban failed: ${err.message}`;
      }
    },
  }, 'Ban by hand:', jail, ip, h('button', { type: 'submit' }, 'Ban'), msg);
}

export const views = {
  overview: {
    state: { range: 'hour', q: '' },
    url(s) { return `/api/overview?range=${s.range}&q=${encodeURIComponent(s.q)}`; },
    build(root, refresh) {
      const s = this.state;
      const search = h('input', { type: 'search', placeholder: 'address or network, e.g. 203.0.113.0/24', size: 34, value: s.q });
      search.addEventListener('change', () => { s.q = search.value.trim(); refresh(); });
      this.el = {
        cards: h('div', { class: 'cards', id: 'ban-cards' }),
        failures: h('div', { id: 'plot-failures' }),
        bans: h('div', { id: 'plot-bans' }),
        jails: h('div', { class: 'panel' }),
        banForm: h('div'),
        list: h('div', { class: 'panel', id: 'active-bans' }),
      };
      root.replaceChildren(
        h('h2', {}, 'Bans now'), this.el.cards,
        h('div', { class: 'toolbar' }, h('h2', { style: 'margin:0' }, 'Failures and bans'), rangePicker(s, refresh)),
        h('div', { class: 'plots' }, h('div', { class: 'panel' }, this.el.failures), h('div', { class: 'panel' }, this.el.bans)),
        h('h2', {}, 'Jails'), this.el.jails,
        h('h2', {}, 'Active bans'), h('div', { class: 'toolbar' }, search), this.el.banForm, this.el.list,
      );
    },
    update(d, refresh) {
      const e = this.el;
      e.cards.replaceChildren(
        card('active bans', d.active),
        card('acknowledged', d.states.acknowledged, 'ok'),
        card('pending', d.states.pending, d.states.pending ? 'warn' : ''),
        card('failed', d.states.failed, d.states.failed ? 'bad' : ''),
        ...(d.states['no-hosts'] ? [card('no host in scope', d.states['no-hosts'])] : []),
      );
      plot(e.failures, 'failures', 'Failures per minute, by jail', d.failures);
      plot(e.bans, 'bans', 'Bans per minute, by jail', d.banSeries);
      e.jails.replaceChildren(table(['Jail', 'Filter', 'Failing now', 'Failures', 'Banned now', 'Bans', 'Scope'],
        d.jails.map((j) => [j.jail, j.filter ?? '-', j.currentlyFailed, j.totalFailed, j.currentlyBanned, j.totalBanned, j.scope])));
      if (!e.banForm.firstChild) e.banForm.replaceChildren(banForm(d.jails.map((j) => j.jail), refresh));
      e.list.replaceChildren(
        d.error ? h('p', { class: 'error' }, d.error) : '',
        table(['Address', 'Jail', 'Since', 'Until', 'Count', 'State', 'Hosts', ''],
          (d.bans ?? []).map((b) => [ipLink(b.ip), b.jail, localTime(b.since), b.until === null ? 'for ever' : `${localTime(b.until)} (${duration(b.until - d.now)} left)`, b.count, stateBadge(b.state), hostStates(b.hosts), unbanButton(b.jail, b.ip, refresh)]),
          'No active bans.'),
        d.active > (d.bans ?? []).length && !this.state.q ? h('p', { class: 'muted' }, `The ${d.bans.length} newest of ${d.active} bans; search for an address or network to find others.`) : '',
      );
    },
  },

  attackers: {
    state: { q: '' },
    url(s) { return `/api/attackers?q=${encodeURIComponent(s.q)}`; },
    build(root, refresh) {
      const s = this.state;
      const search = h('input', { type: 'search', id: 'attacker-search', placeholder: 'address or network', size: 34, value: s.q });
      search.addEventListener('change', () => { s.q = search.value.trim(); refresh(); });
      this.el = { list: h('div', { class: 'panel', id: 'attackers' }), head: h('p', { class: 'muted' }) };
      root.replaceChildren(h('h2', {}, 'Attackers'), h('div', { class: 'toolbar' }, search, this.el.head), this.el.list);
    },
    update(d) {
      this.el.head.textContent = d.error ? '' : `${d.attackers.length} shown of ${d.total} addresses seen`;
      this.el.list.replaceChildren(
        d.error ? h('p', { class: 'error' }, d.error) : table(['Address', 'Failures', 'Jails', 'Mail servers', 'User names tried', 'First seen', 'Last seen', 'Banned'],
          d.attackers.map((a) => [ipLink(a.ip), a.failures, tally(a.jails), a.servers, h('span', { class: 'tags' }, a.users.slice(0, 12).map((u) => h('span', {}, u)), a.users.length > 12 ? ` +${a.users.length - 12}` : ''), localTime(a.first), ago(a.last, d.now), a.banned ? badge('banned', 'bad') : '']),
          'No attacker seen yet.'),
      );
    },
  },

  attacker: {
    state: { ip: '' },
    url(s) { return `/api/attacker?ip=${encodeURIComponent(s.ip)}`; },
    build(root) {
      this.el = { head: h('h2', {}, `Address ${this.state.ip}`), summary: h('div', { class: 'panel', id: 'attacker-summary' }), bans: h('div', { class: 'panel', id: 'attacker-bans' }), events: h('div', { class: 'panel' }), lines: h('div', { class: 'panel', id: 'attacker-lines' }) };
      root.replaceChildren(h('p', {}, h('a', { href: '#attackers' }, '← all attackers')), this.el.head, this.el.summary,
        h('h2', {}, 'Bans in force, per host'), this.el.bans, h('h2', {}, 'Ban history'), this.el.events, h('h2', {}, 'Matched lines (passwords removed)'), this.el.lines);
    },
    update(d, refresh) {
      const e = this.el;
      if (d.error) { e.summary.replaceChildren(h('p', { class: 'error' }, d.error)); return; }
      const a = d.summary;
      e.summary.replaceChildren(a
        ? table(['Failures', 'First seen', 'Last seen', 'Jails', 'Mail servers tried', 'User names tried'],
          [[a.failures, localTime(a.first), `${localTime(a.last)} (${ago(a.last, d.now)})`, tally(a.jails), h('span', { class: 'tags', id: 'attacker-servers' }, Object.entries(a.origins).map(([o, n]) => h('span', {}, `${o} (${n})`))), h('span', { class: 'tags', id: 'attacker-users' }, Object.entries(a.users).map(([u, n]) => h('span', {}, `${u} (${n})`)))]])
        : h('p', { class: 'muted' }, 'No failure of this address in the history.'));
      e.bans.replaceChildren(table(['Jail', 'Since', 'Until', 'Count', 'State', 'Per host', ''],
        d.bans.map((b) => [b.jail, localTime(b.since), b.until === null ? 'for ever' : localTime(b.until), b.count, stateBadge(b.state), hostStates(b.hosts), unbanButton(b.jail, b.ip, refresh)]), 'Not banned now.'));
      e.events.replaceChildren(table(['When', 'Jail', 'What', 'Detail'],
        d.events.map((ev) => [localTime(ev.time), ev.jail, ev.kind, ev.kind === 'ban' ? `${ev.detail.manual ? 'by hand' : `${ev.detail.failures} failures`}, ban #${ev.detail.count}, ${ev.detail.until === null ? 'for ever' : `until ${localTime(ev.detail.until)}`}` : String(ev.detail.reason ?? '')]), 'No ban recorded.'));
      e.lines.replaceChildren(table(['When', 'Jail', 'Mail server', 'User', 'Line'],
        d.lines.map((l) => [localTime(l.time), l.jail, l.origin, l.user ?? '-', h('span', { class: 'line' }, l.line)]), 'No line kept.'));
    },
  },

  ingest: {
    state: { range: 'hour' },
    url(s) { return `/api/ingest?range=${s.range}`; },
    build(root, refresh) {
      this.el = { list: h('div', { class: 'panel', id: 'senders' }), plot: h('div', { id: 'plot-senders' }) };
      root.replaceChildren(h('h2', {}, 'Mail servers: what they send'), this.el.list,
        h('div', { class: 'toolbar' }, h('h2', { style: 'margin:0' }, 'Messages per minute'), rangePicker(this.state, refresh)), h('div', { class: 'panel' }, this.el.plot));
    },
    update(d) {
      this.el.list.replaceChildren(table(['Mail server', 'Address', 'Received', 'Parsed', 'Dropped', 'Last message', ''],
        d.senders.map((s) => [s.host ?? '-', s.address, s.received, s.parsed, s.dropped, s.last === null ? 'never' : `${ago(s.last, d.now)}`, s.silent ? badge(s.last === null ? 'never heard' : 'silent', 'bad') : badge('sending', 'ok')]), 'No mail server has sent anything yet.'));
      plot(this.el.plot, 'senders', 'Messages per minute, by sender', d.series);
    },
  },

  push: {
    state: {},
    url() { return '/api/push'; },
    build(root) {
      this.el = { list: h('div', { class: 'panel', id: 'hosts' }) };
      root.replaceChildren(h('h2', {}, 'Mail servers: bans pushed'), this.el.list);
    },
    update(d) {
      this.el.list.replaceChildren(table(['Host', 'Address', 'State', 'For', 'Pending', 'Applied', 'Failed', 'Ack latency (last / avg)', 'Last error'],
        d.hosts.map((x) => [x.name, x.address, stateBadge(x.state), duration(d.now - x.since), x.pending, x.applied, x.failed, x.latency ? `${duration(x.latency.lastMs)} / ${duration(x.latency.avgMs)}` : '-', x.lastError ? `${localTime(x.lastErrorAt)}: ${x.lastError}` : '-']),
        'No hosts in fleet.conf.'));
    },
  },

  listeners: {
    state: { range: 'hour' },
    url(s) { return `/api/listeners?range=${s.range}`; },
    build(root, refresh) {
      this.el = { sources: h('div', { class: 'panel', id: 'listeners' }), senders: h('div', { class: 'panel' }), received: h('div', { id: 'plot-received' }), parsed: h('div', { id: 'plot-parsed' }), dropped: h('div', { id: 'plot-dropped' }) };
      root.replaceChildren(h('h2', {}, 'Listeners'), this.el.sources,
        h('div', { class: 'toolbar' }, h('h2', { style: 'margin:0' }, 'Over time'), rangePicker(this.state, refresh)),
        h('div', { class: 'plots' }, h('div', { class: 'panel' }, this.el.received), h('div', { class: 'panel' }, this.el.parsed), h('div', { class: 'panel' }, this.el.dropped)),
        h('h2', {}, 'Per sender'), this.el.senders);
    },
    update(d) {
      const reasons = [...new Set([...d.sources, ...d.senders].flatMap((c) => Object.keys(c.dropped)))];
      const rows = (list) => list.map((c) => [c.name, c.received, c.parsed, ...reasons.map((r) => c.dropped[r] ?? 0)]);
      this.el.sources.replaceChildren(table(['Listener', 'Received', 'Parsed', ...reasons.map((r) => `dropped: ${r}`)], rows(d.sources), 'No listener.'));
      this.el.senders.replaceChildren(table(['Sender', 'Received', 'Parsed', ...reasons.map((r) => `dropped: ${r}`)], rows(d.senders), 'No sender yet.'));
      plot(this.el.received, 'received', 'Received per minute, by listener', d.received);
      plot(this.el.parsed, 'parsed', 'Parsed per minute, by listener', d.parsed);
      plot(this.el.dropped, 'dropped', 'Dropped per minute, by listener and reason', d.dropped);
    },
  },
};
