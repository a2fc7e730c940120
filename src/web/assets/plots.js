// Time plots with uPlot (served from this host, see docs/web.md for why
// uPlot). A plot is kept across refreshes and given new data with setData,
// so polling every few seconds does not rebuild the canvas.
import uPlot from '/assets/uPlot.esm.js';
import { h } from './dom.js';

const COLORS = ['#2f6fdf', '#d9480f', '#2b8a3e', '#ae3ec9', '#e8590c', '#1098ad', '#5c940d', '#c2255c', '#495057', '#f59f00'];
const plots = new Map();

/**
 * A plot of `result` ({minutes, series: [{name, values}]}) in `holder`,
 * under `key` (the same key reuses the plot). The holder's data-points
 * attribute says how many non-zero points are drawn (tests read it).
 */
export function plot(holder, key, title, result, unit = 'per minute') {
  const names = result.series.map((s) => s.name);
  const xs = result.minutes.map((m) => m * 60);
  const data = [xs, ...result.series.map((s) => s.values)];
  let p = plots.get(key);
  const width = Math.max(320, holder.clientWidth || 600);
  if (p && (p.names.join('\n') !== names.join('\n') || !document.body.contains(p.el))) {
    p.u.destroy();
    plots.delete(key);
    p = undefined;
  }
  if (!p) {
    const el = h('div', { class: 'plot' }, h('h3', {}, title));
    holder.replaceChildren(el);
    if (names.length === 0) {
      el.append(h('p', { class: 'muted' }, 'No data in this range yet.'));
      holder.dataset.points = '0';
      return;
    }
    const u = new uPlot(
      {
        width,
        height: 220,
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
        axes: [{}, { label: unit, size: 60 }],
        series: [{}, ...names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 1.5, fill: COLORS[i % COLORS.length] + '18', points: { show: false } }))],
        legend: { live: true },
      },
      data,
      el,
    );
    p = { u, names, el };
    plots.set(key, p);
  } else {
    p.u.setData(data);
    if (Math.abs(p.u.width - width) > 20) p.u.setSize({ width, height: 220 });
  }
  holder.dataset.points = String(result.series.reduce((n, s) => n + s.values.filter((v) => v > 0).length, 0));
}

/** Forget plots whose holders left the page (the view changed). */
export function prunePlots() {
  for (const [key, p] of plots) {
    if (!document.body.contains(p.el)) {
      p.u.destroy();
      plots.delete(key);
    }
  }
}
