import { describe, expect, it } from 'vitest';
import { FailureWindow } from '../../src/jails/failure-window.js';

/** A small deterministic random source, so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('the failure window', () => {
  it('keeps the latest maxretry failures, sorted by event time, and says when they fit in findtime', () => {
    const w = new FailureWindow(3, 600_000);
    expect(w.add('203.0.113.1', 1_000_000, 1)).toBe(false);
    expect(w.add('203.0.113.1', 1_600_000, 2)).toBe(false);
    // A late line stamped between the two.
    expect(w.add('203.0.113.1', 1_300_000, 3)).toBe(true);
    expect(w.snapshot('203.0.113.1')).toEqual({ times: [1_000_000, 1_300_000, 1_600_000], origins: [1, 3, 2] });
    // A fourth, later one pushes the oldest out.
    expect(w.add('203.0.113.1', 1_850_000, 4)).toBe(true);
    expect(w.snapshot('203.0.113.1')!.times).toEqual([1_300_000, 1_600_000, 1_850_000]);
    // One older than all kept ones is not kept, but counts if it completes a window.
    expect(w.add('203.0.113.1', 1_100_000, 5)).toBe(true);
    expect(w.add('203.0.113.1', 0, 5)).toBe(false);
    expect(w.count('203.0.113.1')).toBe(3);
  });

  it('a failure weighing several counts several times (bantime.increment)', () => {
    const w = new FailureWindow(5, 600_000);
    expect(w.add('203.0.113.1', 1000, 1, 3)).toBe(false);
    expect(w.add('203.0.113.1', 2000, 1, 2)).toBe(true);
  });

  it('holds IPv4 addresses, IPv6 addresses and networks side by side, through growth, deletes and reuse', () => {
    const w = new FailureWindow(2, 600_000, 16);
    const ref = new Map<string, number>();
    const random = prng(42);
    const keyOf = (n: number) =>
      n % 5 === 0 ? `2001:db8::${n.toString(16)}` : n % 7 === 0 ? `2001:db8:${n.toString(16)}::/64` : `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
    for (let step = 0; step < 60_000; step++) {
      const k = keyOf(Math.floor(random() * 5000));
      if (random() < 0.3) {
        expect(w.delete(k)).toBe(ref.delete(k));
      } else {
        w.add(k, step, 0);
        ref.set(k, Math.min(2, (ref.get(k) ?? 0) + 1));
      }
    }
    expect(w.size).toBe(ref.size);
    for (const [k, n] of ref) expect(w.count(k)).toBe(n);
    expect(new Set(w.keys())).toEqual(new Set(ref.keys()));
    for (let n = 0; n < 5000; n++) if (!ref.has(keyOf(n))) expect(w.has(keyOf(n))).toBe(false);
  });

  it('sweeps addresses whose newest failure left the window', () => {
    const w = new FailureWindow(3, 600_000);
    w.add('203.0.113.1', 1000, 0);
    w.add('203.0.113.2', 5000, 0);
    w.add('2001:db8::1', 1000, 0);
    expect(w.sweep(2000)).toBe(2);
    expect([...w.keys()]).toEqual(['203.0.113.2']);
  });

  it('makes room by forgetting the stalest of a few addresses picked at random', () => {
    const w = new FailureWindow(3, 600_000);
    for (let i = 0; i < 100; i++) w.add(`198.51.100.${i}`, 10_000 + i, 0);
    const evicted = w.evictOne(prng(1));
    expect(evicted).toMatch(/^198\.51\.100\.\d+$/);
    expect(w.size).toBe(99);
    expect(w.has(evicted!)).toBe(false);
  });

  it('lists each changed address once for the write-behind, and never one that is gone', () => {
    const w = new FailureWindow(3, 600_000);
    w.add('203.0.113.1', 1, 0);
    w.add('203.0.113.1', 2, 0);
    w.add('203.0.113.2', 3, 0);
    w.delete('203.0.113.2');
    expect(w.pendingWrites).toBe(2);
    const written: string[] = [];
    expect(w.drainDirty(10, (slot) => written.push(w.keyAt(slot)))).toBe(1);
    expect(written).toEqual(['203.0.113.1']);
    expect(w.pendingWrites).toBe(0);
  });
});
