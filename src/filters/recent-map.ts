import type { StateJournal } from './state-journal.js';

/**
 * A map that keeps only recent entries, for state an attacker can make
 * grow: a multi-line filter's connections (one mlfid per connection, and
 * an attacker opens connections by the million) and its line buffers (one
 * per mail server). At most `maxEntries` entries: setting one more evicts
 * the least recently used, and that eviction is counted (the connection's
 * earlier lines are forgotten before it ended, which an administrator must
 * be able to see). An entry not touched for `maxAgeMs` is gone, as
 * fail2ban forgets an mlfid after five minutes; that is normal forgetting,
 * not counted.
 *
 * Values are replaced, never changed in place, so the journal can undo a
 * change by putting the old value back (see state-journal.ts).
 */
export class RecentMap<V> {
  /** Insertion order is recency order: a touched entry is moved to the end. */
  private readonly map = new Map<string, { value: V; at: number }>();

  constructor(
    readonly maxEntries: number,
    readonly maxAgeMs: number,
    private readonly journal: StateJournal,
    /** Told of each eviction the size bound forced (once committed). */
    private readonly onEvicted: (n: number) => void,
  ) {}

  get size(): number {
    return this.map.size;
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
    if (old !== undefined) this.map.delete(key);
    this.map.set(key, { value, at: now });
    this.journal.record(() => {
      this.map.delete(key);
      if (old !== undefined) this.map.set(key, old);
    });
    if (old === undefined && this.map.size > this.maxEntries) this.evictOldest(now);
  }

  delete(key: string): void {
    if (this.map.has(key)) this.remove(key);
  }

  private remove(key: string): void {
    const old = this.map.get(key)!;
    this.map.delete(key);
    this.journal.record(() => this.map.set(key, old));
  }

  /** Drop expired entries from the old end, then the oldest one if still too many. */
  private evictOldest(now: number): void {
    for (const [key, e] of this.map) {
      if (this.map.size <= this.maxEntries) return;
      const expired = now - e.at > this.maxAgeMs;
      this.remove(key);
      if (!expired) {
        const n = this.journal.count();
        if (n > 0) this.onEvicted(n);
      }
    }
  }
}
