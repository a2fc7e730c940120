import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Filter, type FilterResult, loadFilter } from '../../src/filters/filter.js';
import { scanText } from '../../src/filters/log-scan.js';
import type { LogEvent } from '../../src/model/log-event.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The regex time limit must never cost a legitimate line, even with both
 * CPUs taken by other processes: every stock fail2ban filter that loads is
 * run on fail2ban's own test lines (read from the installed package, never
 * copied), one line per batch on a freshly built filter (the shape that
 * used to charge the compile and any wait for the CPU to one line), and
 * must give exactly what the same filter gives without any limit.
 */

const STOCK = '/etc/fail2ban';
const LOGS = '/usr/lib/python3/dist-packages/fail2ban/tests/files/logs';
const NOW = Date.UTC(2026, 10, 21, 12);

const have = existsSync(join(STOCK, 'filter.d')) && existsSync(LOGS);
const busy: ChildProcess[] = [];

beforeAll(() => {
  // Two busy loops: every CPU of this machine (two) is taken while the lines are matched.
  for (let i = 0; i < 2; i++) busy.push(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
});

afterAll(() => {
  for (const p of busy) if (p.pid !== undefined) process.kill(p.pid, 'SIGKILL');
});

/** Option sets the test log asks for (`# filterOptions: ...`), fail2ban's test-only keys left out; always the defaults too. */
function optionSets(text: string): Record<string, string>[] {
  const sets = new Map<string, Record<string, string>>([['{}', {}]]);
  for (const m of text.matchAll(/^#\s*filterOptions:\s*(.+)$/gm)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(m[1]!);
    } catch {
      continue;
    }
    for (const o of Array.isArray(parsed) ? parsed : [parsed]) {
      if (typeof o !== 'object' || o === null) continue;
      const clean = Object.fromEntries(Object.entries(o as Record<string, unknown>).filter(([k]) => !k.startsWith('test.')).map(([k, v]) => [k, String(v)]));
      sets.set(JSON.stringify(clean), clean);
    }
  }
  return [...sets.values()];
}

function same(a: FilterResult, b: FilterResult): boolean {
  if (a.kind !== b.kind) return false;
  return a.kind !== 'failure' || (b.kind === 'failure' && a.match.ip === b.match.ip);
}

describe.skipIf(!have && !process.env.CI)('the regex time limit on a loaded host', () => {
  it("drops none of fail2ban's test lines of any stock filter, one line per batch", () => {
    let filters = 0;
    let lines = 0;
    let dropped = 0;
    const droppedLines: string[] = [];
    for (const name of readdirSync(LOGS).sort()) {
      const log = join(LOGS, name);
      const conf = join(STOCK, 'filter.d', `${name}.conf`);
      if (!statSync(log).isFile() || !existsSync(conf)) continue;
      const text = readFileSync(log, 'utf8');
      const testLines = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
      for (const opts of optionSets(text)) {
        let reference: Filter;
        try {
          reference = loadFilter(STOCK, conf, opts);
        } catch {
          continue; // not loadable here (test/filters/redos.test.ts and the parity suite report those)
        }
        filters++;
        // Built fresh, so its first line comes right after the compile.
        const guarded = loadFilter(STOCK, conf, opts);
        for (const line of testLines) {
          lines++;
          const want = reference.matchLine(line, NOW);
          let got: FilterResult | undefined;
          const counts = scanText(line, guarded, (_n, _l, r) => (got = r), { now: NOW });
          if (counts.tooSlow > 0 || got === undefined || !same(got, want)) {
            dropped++;
            droppedLines.push(`${name}${JSON.stringify(opts)}: ${line.slice(0, 120)}`);
          }
        }
      }
    }
    console.info(`time limit on a loaded host: ${lines} test lines of ${filters} stock filter settings, ${dropped} dropped or changed by the limit`);
    expect(filters).toBeGreaterThan(50);
    expect(droppedLines).toEqual([]);
  });

  it('apache-auth[mode=aggressive] through the service path: every event of a batch of one, and nothing lost to the retry', async () => {
    const conf = join(STOCK, 'filter.d', 'apache-auth.conf');
    const text = readFileSync(join(LOGS, 'apache-auth'), 'utf8');
    // Apache's error log lines as messages: their [date] cut out as fail2ban cuts it (leaving `[]`).
    const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')).map((l) => l.replace(/^\[[^\]]*\]/, '[]'));
    const ev = (message: string): LogEvent => ({ time: NOW, received: NOW, source: 'file', origin: '', message, raw: message });
    for (let round = 0; round < 5; round++) {
      const reference = loadFilter(STOCK, conf, { mode: 'aggressive' });
      const guarded = loadFilter(STOCK, conf, { mode: 'aggressive' });
      const late: FilterResult[] = [];
      guarded.onLateResult = (_e, r) => late.push(r);
      const want = lines.map((l) => reference.matchEvent(ev(l)));
      const got = lines.map((l) => guarded.matchEvents([ev(l)])[0]!);
      const cut = guarded.losses.retried;
      await waitFor('the retry worker to answer', () => late.length + guarded.losses.tooSlow >= got.filter((r, i) => r.kind === 'missed' && want[i]!.kind !== 'missed').length || JSON.stringify(guarded.losses));
      expect(guarded.losses.tooSlow).toBe(0);
      // What the batch limit cut came back through onLateResult; together they are the unguarded results.
      const failures = got.filter((r) => r.kind === 'failure').length + late.filter((r) => r.kind === 'failure').length;
      expect(failures, `round ${round}, ${cut} retried`).toBe(want.filter((r) => r.kind === 'failure').length);
      expect(failures).toBeGreaterThan(0);
    }
  });
});
