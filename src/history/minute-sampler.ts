/**
 * Turns cumulative counters (failures per jail since start, messages per
 * listener...) into per-minute increments. It reads the counters every few
 * seconds, off the hot path: the listeners and jails keep incrementing
 * their plain numbers and never know about the history.
 *
 * A counter that goes down (a listener closed by a reload, a jail
 * re-created) starts again from its new value: the minute gets what was
 * added after, never a negative count.
 */
export class MinuteSampler {
  /** Counter values when the current minute began. */
  private base = new Map<string, number>();
  /** Counter values at the last read. */
  private last = new Map<string, number>();
  /** When each counter last went up (ms), for "age of the last message". */
  private readonly changed = new Map<string, number>();
  private minute: number;

  constructor(
    private readonly read: () => Map<string, number>,
    private readonly write: (minute: number, increments: Map<string, number>) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.minute = Math.floor(this.now() / 60_000);
    this.base = this.read();
    this.last = new Map(this.base);
  }

  /** Read the counters; when a minute has ended, hand its increments to `write`. */
  tick(): void {
    const now = this.now();
    const values = this.read();
    for (const [k, v] of values) {
      const prev = this.last.get(k);
      if (prev === undefined ? v > 0 : v > prev) this.changed.set(k, now);
    }
    const minute = Math.floor(now / 60_000);
    if (minute !== this.minute) {
      this.write(this.minute, increments(this.base, values));
      this.minute = minute;
      this.base = values;
    }
    this.last = values;
  }

  /** Write the current, unfinished minute (at stop: nothing counted is lost). */
  flush(): void {
    const values = this.read();
    this.write(this.minute, increments(this.base, values));
    this.base = values;
    this.last = values;
  }

  /** The unfinished minute: its number and what each counter added in it so far. */
  current(): { minute: number; values: Map<string, number> } {
    return { minute: this.minute, values: increments(this.base, this.last) };
  }

  /** When the counters under `prefix` last went up, by name without the prefix (ms since the epoch). */
  lastChanges(prefix: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const [k, t] of this.changed) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), t);
    return out;
  }
}

function increments(from: Map<string, number>, to: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of to) {
    const b = from.get(k) ?? 0;
    const d = v >= b ? v - b : v;
    if (d > 0) out.set(k, d);
  }
  return out;
}
