import type { StateJournal } from './state-journal.js';

/**
 * A map that keeps only recent entries, for state an attacker can make
 * grow: a multi-line filter's connections (one mlfid per connection, and
 * an attacker opens connections by the million, each with fields of their
 * choosing) and its line buffers (one per mail server). Two bounds: at
 * most `maxEntries` entries, and at most `maxWeight` in total (the
 * characters the values hold, as `weigh` counts them). Going past either
 * evicts the least recently used entries, and each eviction is counted
 * (a connection's earlier lines are forgotten before it ended, which an
 * administrator must be able to see). An entry not touched for `maxAgeMs`
 * is gone, as fail2ban forgets an mlfid after five minutes; that is normal
 * forgetting, not counted.
 *
 * Values are replaced, never changed in place, so the journal can undo a
 * change by putting the old value back (see state-journal.ts).
 */
export class RecentMap<V> {
  /** Insertion order is recency order: a touched entry is moved to the end. */
  private readonly map = new Map<string, { value: V; at: number; weight: number }>();
  private weight = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxAgeMs: number,
    private readonly journal: StateJournal,
    /** Told of each eviction a bound forced (once committed). */
    private readonly onEvicted: (n: number) => void,
    private readonly weigh: (v: V) => number = () => 0,
    readonly maxWeight = Infinity,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** The total weight of the values held. */
  get totalWeight(): number {
    return this.weight;
  }

  /** The value, if it is there and not older than maxAgeMs at `now`. */
  get(key: string, now: number): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    if (now - e.at > this.maxAgeMs) {
      this.remove(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, now: number): void {
    const old = this.map.get(key);
    if (old !== undefined) this.drop(key, old);
    this.put(key, { value, at: now, weight: this.weigh(value) });
    this.journal.record(() => {
      this.drop(key, this.map.get(key)!);
      if (old !== undefined) this.put(key, old);
    });
    if (this.map.size > this.maxEntries || this.weight > this.maxWeight) this.evictOldest(key, now);
  }

  delete(key: string): void {
    if (this.map.has(key)) this.remove(key);
  }

  private put(key: string, e: { value: V; at: number; weight: number }): void {
    this.map.set(key, e);
    this.weight += e.weight;
  }

  private drop(key: string, e: { weight: number }): void {
    this.map.delete(key);
    this.weight -= e.weight;
  }

  private remove(key: string): void {
    const old = this.map.get(key)!;
    this.drop(key, old);
    this.journal.record(() => this.put(key, old));
  }

  /** Drop entries from the old end until both bounds hold; never the one just set (`keep`). */
  private evictOldest(keep: string, now: number): void {
    for (const [key, e] of this.map) {
      if (this.map.size <= this.maxEntries && this.weight <= this.maxWeight) return;
      if (key === keep) continue;
      const expired = now - e.at > this.maxAgeMs;
      this.remove(key);
      if (!expired) {
        const n = this.journal.count();
        if (n > 0) this.onEvicted(n);
      }
    }
  }
}
