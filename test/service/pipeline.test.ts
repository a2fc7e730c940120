import { pino } from 'pino';
import { waitFor } from '../helpers/wait.js';
import { describe, expect, it } from 'vitest';
import type { LogEvent } from '../../src/model/log-event.js';
import { Pipeline, type MatchResult, type PipelineJail } from '../../src/service/pipeline.js';

const quiet = pino({ level: 'silent' });

function event(message: string, source = 'udp'): LogEvent {
  return { time: NaN, received: Date.now(), source, origin: 'mx1', message, raw: message };
}

/** A stand-in filter: "fail <ip>" is a failure, "skip" is ignored. */
function matchOne(ev: LogEvent): MatchResult<string> {
  if (ev.message === 'skip') return { kind: 'ignored' };
  const m = /^fail (\S+)$/.exec(ev.message);
  return m ? { kind: 'failure', match: m[1]! } : { kind: 'missed' };
}
const simpleFilter = { matchEvents: (evs: readonly LogEvent[]) => evs.map(matchOne) };

describe('the pipeline between sources and jails', () => {
  it('hands each failure to the jails whose sources match', async () => {
    const seen: string[] = [];
    const jails: PipelineJail<string>[] = [
      { name: 'all', filterName: 'f', sources: null, filter: simpleFilter },
      { name: 'journal-only', filterName: 'f', sources: new Set(['journal']), filter: simpleFilter },
    ];
    const p = new Pipeline(jails, (jail, ip) => seen.push(`${jail} ${ip}`), quiet);
    p.push(event('fail 203.0.113.1'));
    p.push(event('fail 203.0.113.2', 'journal'));
    p.push(event('skip'));
    p.push(event('noise'));
    await p.flush();
    expect(seen).toEqual(['all 203.0.113.1', 'all 203.0.113.2', 'journal-only 203.0.113.2']);
    expect(p.stats.events).toBe(4);
    expect(p.stats.failures.get('all\u0000f')).toBe(2);
    expect(p.stats.ignored.get('all\u0000f')).toBe(1);
  });

  it('asks sources to pause above the high-water mark and tells them when it drained', async () => {
    let handled = 0;
    const p = new Pipeline([{ name: 'j', filterName: 'f', sources: null, filter: simpleFilter }], () => handled++, quiet, 100);
    let drained = 0;
    p.onDrain(() => drained++);
    const answers: boolean[] = [];
    for (let i = 0; i < 150; i++) answers.push(p.push(event(`fail 203.0.113.${i % 250}`)));
    expect(answers.slice(0, 99).every(Boolean)).toBe(true);
    expect(answers.slice(99).some(Boolean)).toBe(false);
    await p.flush();
    expect(handled).toBe(150);
    expect(drained).toBe(1);
    expect(p.push(event('noise'))).toBe(true);
  });

  it('keeps going when a filter throws', async () => {
    const seen: string[] = [];
    const broken = { matchEvents: (): never => { throw new Error('boom'); } };
    const p = new Pipeline(
      [
        { name: 'broken', filterName: 'b', sources: null, filter: broken },
        { name: 'ok', filterName: 'f', sources: null, filter: simpleFilter },
      ],
      (jail, ip) => seen.push(`${jail} ${ip}`),
      quiet,
    );
    p.push(event('fail 198.51.100.1'));
    await p.flush();
    expect(seen).toEqual(['ok 198.51.100.1']);
  });
});

describe('flush under a steady stream', () => {
  it('resolves once the events pushed before it are matched, though more keep coming', async () => {
    let handled = 0;
    const p = new Pipeline([{ name: 'j', filterName: 'f', sources: null, filter: simpleFilter }], () => handled++, quiet);
    for (let i = 0; i < 10_000; i++) p.push(event('fail 203.0.113.1'));
    const flushed = p.flush().then(() => handled);
    // Keep the queue from ever emptying until the flush answered.
    let answered = false;
    void flushed.then(() => (answered = true));
    while (!answered) {
      for (let i = 0; i < 5_000; i++) p.push(event('fail 203.0.113.2'));
      await new Promise((r) => setImmediate(r));
    }
    expect(await flushed).toBeGreaterThanOrEqual(10_000);
    expect(p.depth).toBeGreaterThan(0);
  });
});

describe('a line crafted to make a regex backtrack', () => {
  it('is cut short and counted; the events around it are still matched', async () => {
    const { loadFilter } = await import('../../src/filters/filter.js');
    // Nested repetition: on a long line that fails at its end, the regex engine would try every split.
    const filter = loadFilter('conf', '^(?:\\w+\\s?)+ failed from <HOST>$');
    const seen: string[] = [];
    const p = new Pipeline([{ name: 'j', filterName: filter.name, sources: null, filter }], (_j, m) => seen.push(m.ip), quiet);
    // It ends with no host at all: a bare regex lets <HOST> match a name (usedns = warn), which would end the search at once.
    const hostile = `${'a'.repeat(30)} failed from `;
    p.push(event('login failed from 203.0.113.7'));
    p.push(event(hostile));
    p.push(event('login failed from 203.0.113.8'));
    await p.flush();
    expect(seen).toEqual(['203.0.113.7', '203.0.113.8']);
    expect(filter.losses.retried).toBe(1);
    await waitFor('the retry worker to give up on it', () => filter.losses.tooSlow === 1 || JSON.stringify(filter.losses));
    expect(seen).toEqual(['203.0.113.7', '203.0.113.8']);
  });
});
