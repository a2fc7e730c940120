import { describe, expect, it } from 'vitest';
import { newestOf } from '../../src/web/web-data.js';

const bans = (times: number[]) => times.map((since, i) => ({ since, ip: `203.0.113.${i}` }));

describe('the overview lists the 100 newest bans', () => {
  it('finds the newest, newest first, whatever order the bans come in', () => {
    const times = Array.from({ length: 5000 }, (_, i) => (i * 7919) % 5003);
    for (const order of [times, [...times].sort((a, b) => a - b), [...times].sort((a, b) => b - a)]) {
      const list = bans(order);
      const expected = [...list].sort((a, b) => b.since - a.since).slice(0, 100).map((b) => b.since);
      expect(newestOf(list, 100).map((b) => b.since)).toEqual(expected);
    }
  });

  it('lists all of them when there are fewer, and none of none', () => {
    expect(newestOf(bans([3, 1, 2]), 100).map((b) => b.since)).toEqual([3, 2, 1]);
    expect(newestOf([], 100)).toEqual([]);
  });
});
