import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkSync } from 'recheck';
import { describe, expect, it } from 'vitest';
import { type Filter, loadFilter } from '../../src/filters/filter.js';
import type { LogEvent } from '../../src/model/log-event.js';

/**
 * ReDoS check of every regex fleetban ships (conf/filter.d, every mode,
 * after translation to JavaScript) and, for information, of the
 * translated regexes of every stock fail2ban filter that loads. The
 * checker is recheck (offline, its pure JavaScript backend).
 */

const CONF = new URL('../../conf', import.meta.url).pathname;
const STOCK = '/etc/fail2ban/filter.d';

/** Let the test runner's own messages through between two (blocking) checks. */
const breathe = () => new Promise((r) => setImmediate(r));

/** Every regex a filter runs, as JavaScript source and flags. */
function regexesOf(f: Filter): { source: string; flags: string }[] {
  return [...(f.prefregex ? [f.prefregex] : []), ...f.failregex, ...f.ignoreregex].map((r) => ({ source: r.re.source, flags: r.re.flags }));
}

/** `mdre-NAME` keys of a filter file: its modes (none: the default only). */
function modesOf(text: string): string[] {
  const modes = [...text.matchAll(/^mdre-([\w-]+)\s*=/gm)].map((m) => m[1]!);
  return modes.length ? modes : [''];
}

describe('ReDoS', () => {
  it('every shipped regex is safe (matching is linear in the line)', async () => {
    const seen = new Map<string, string>();
    for (const file of readdirSync(join(CONF, 'filter.d')).filter((f) => f.endsWith('.conf') && f !== 'common.conf')) {
      const name = file.slice(0, -5);
      for (const mode of modesOf(readFileSync(join(CONF, 'filter.d', file), 'utf8'))) {
        const spec = mode ? `${name}[mode=${mode}]` : name;
        for (const r of regexesOf(loadFilter(CONF, spec))) seen.set(`${r.flags}/${r.source}`, spec);
      }
    }
    expect(seen.size).toBeGreaterThan(5);
    const unsafe: string[] = [];
    for (const [key, spec] of seen) {
      await breathe();
      const slash = key.indexOf('/');
      const res = checkSync(key.slice(slash + 1), key.slice(0, slash), { timeout: 120_000, randomSeed: 1 });
      if (res.status !== 'safe') {
        const detail = res.status === 'vulnerable' ? `${res.complexity.summary}, attack ${JSON.stringify(res.attack.pattern)}` : res.status;
        unsafe.push(`${spec}: ${detail}: ${key.slice(slash + 1, slash + 120)}`);
      }
    }
    console.info(`ReDoS: ${seen.size} shipped regexes checked, ${unsafe.length} not safe`);
    expect(unsafe).toEqual([]);
  }, 600_000);

  it.skipIf(!existsSync(STOCK))('stock fail2ban filters: the vulnerable ones are reported (not asserted)', async () => {
    const seen = new Map<string, string[]>();
    let loaded = 0;
    let refused = 0;
    for (const file of readdirSync(STOCK).filter((f) => f.endsWith('.conf')).sort()) {
      let f: Filter;
      try {
        f = loadFilter('/etc/fail2ban', join(STOCK, file));
      } catch {
        refused++;
        continue;
      }
      loaded++;
      for (const r of regexesOf(f)) {
        const key = `${r.flags}/${r.source}`;
        seen.set(key, [...(seen.get(key) ?? []), file.slice(0, -5)]);
      }
    }
    // The pure JavaScript checker is slow: a short budget per regex and for the whole list.
    const until = Date.now() + 40_000;
    const tally = { safe: 0, vulnerable: 0, unknown: 0, unchecked: 0 };
    const vulnerable: string[] = [];
    for (const [key, filters] of seen) {
      if (Date.now() > until) {
        tally.unchecked++;
        continue;
      }
      await breathe();
      const slash = key.indexOf('/');
      const res = checkSync(key.slice(slash + 1), key.slice(0, slash), { timeout: 500, randomSeed: 1 });
      if (res.status === 'vulnerable') {
        tally.vulnerable++;
        vulnerable.push(`${[...new Set(filters)].join(',')}: ${res.complexity.summary}`);
      } else tally[res.status === 'safe' ? 'safe' : 'unknown']++;
    }
    console.info(
      `ReDoS, stock filters: ${loaded} loaded (${refused} refused), ${seen.size} distinct regexes: ${JSON.stringify(tally)}\n` +
        vulnerable.map((v) => `  vulnerable: ${v}`).join('\n'),
    );
    expect(loaded).toBeGreaterThan(0);
  }, 300_000);

  it('a crafted 24 KB line against the shipped vpopmail filter is decided well inside the hot path limit', () => {
    const f = loadFilter(CONF, 'vpopmail[mode=aggressive]');
    const ev = (message: string): LogEvent => ({ time: 1, received: 1, source: 'udp', origin: 'mx1', hostname: 'mx1', app: 'vpopmail', pid: '1', message, raw: message });
    const n = 24 * 1024;
    const crafted = [
      `vchkpw-pop3: vpopmail user not found ${'1:'.repeat(n / 2)}x`,
      `vchkpw-pop3: null password given ${'a:'.repeat(n / 2)} `,
      `vchkpw-pop3: invalid user/domain characters ${'::'.repeat(n / 2)}!`,
      `vchkpw-pop3: password fail (pass: '${"') ".repeat(n / 3)}x@y:1`,
      `vchkpw-pop3: password fail (pass: '${"') a:".repeat(n / 5)}`,
      `vchkpw-pop3: system password fail ${'x'.repeat(n)}:${'1'.repeat(100)} `,
      `vchkpw-pop3: ${'vchkpw-pop3: '.repeat(n / 13)}`,
      `${' '.repeat(n)}vchkpw-pop3: password fail a@b:`,
    ];
    for (const line of crafted) expect(line.length).toBeGreaterThan(n - 10);
    const results = f.matchEvents(crafted.map(ev));
    // Nothing was cut by the time limit (the guard never stepped in), so each was decided in few steps.
    expect(f.losses.retried).toBe(0);
    expect(results.map((r) => r.kind)).toEqual(crafted.map(() => 'missed'));
  });
});
