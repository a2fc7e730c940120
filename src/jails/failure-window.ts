/**
 * The failures of every address of one jail inside `findtime` (fail2ban's
 * failmanager). An address is due for a ban when `maxretry` of its failures
 * lie within `findtime` of each other, by event time; both edges count, so
 * failures at 0 s, 300 s and 600 s ban with maxretry 3 and findtime 600.
 *
 * Attackers choose how many addresses this holds (a million is a quiet
 * day for a botnet), so it is built for that: one Map from address to slot
 * and the slots in typed arrays, `maxretry` times per slot kept sorted. No
 * object is allocated per failure; a new address costs its Map entry.
 *
 * Per slot only the `maxretry` latest failures are kept: an older one can no
 * longer complete a window that the newer ones do not.
 */
export class FailureWindow {
  private readonly index = new Map<string, number>();
  private keys: (string | undefined)[] = [];
  /** slot * cap + i: event times, ms, ascending. */
  private times: Float64Array;
  /** Interned origin of each time. */
  private origins: Uint16Array;
  private counts: Uint16Array;
  /** Sequence number of the slot's last line in the MatchRing, -1 for none. */
  private lastLines: Float64Array;
  private free: number[] = [];
  private used = 0;

  constructor(
    readonly maxRetry: number,
    readonly findTimeMs: number,
    initialSlots = 1024,
  ) {
    this.times = new Float64Array(initialSlots * maxRetry);
    this.origins = new Uint16Array(initialSlots * maxRetry);
    this.counts = new Uint16Array(initialSlots);
    this.lastLines = new Float64Array(initialSlots);
  }

  /** Addresses tracked. */
  get size(): number {
    return this.index.size;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  /**
   * Count `weight` failures of `key` at `time` from `origin`; returns true
   * when the address now has maxretry failures within findtime.
   */
  add(key: string, time: number, origin: number, weight: number, lineSeq: number): boolean {
    let slot = this.index.get(key);
    if (slot === undefined) {
      slot = this.allocate(key);
    }
    if (lineSeq >= 0) this.lastLines[slot] = lineSeq;
    let due = false;
    for (let w = 0; w < weight; w++) if (this.insert(slot, time, origin)) due = true;
    return due;
  }

  private insert(slot: number, t: number, origin: number): boolean {
    const cap = this.maxRetry;
    const base = slot * cap;
    const times = this.times;
    const origins = this.origins;
    let n = this.counts[slot]!;
    if (n === cap) {
      if (t < times[base]!) {
        // Older than every kept failure (a late line): it completes a window
        // with the oldest kept ones or it is of no more use.
        return cap === 1 || times[base + cap - 2]! - t <= this.findTimeMs;
      }
      // Drop the oldest to make room.
      times.copyWithin(base, base + 1, base + cap);
      origins.copyWithin(base, base + 1, base + cap);
      n--;
    }
    let i = n;
    while (i > 0 && times[base + i - 1]! > t) {
      times[base + i] = times[base + i - 1]!;
      origins[base + i] = origins[base + i - 1]!;
      i--;
    }
    times[base + i] = t;
    origins[base + i] = origin;
    this.counts[slot] = ++n;
    return n === cap && times[base + cap - 1]! - times[base]! <= this.findTimeMs;
  }

  private allocate(key: string): number {
    let slot = this.free.pop();
    if (slot === undefined) {
      slot = this.used++;
      if (slot >= this.counts.length) this.grow();
    }
    this.index.set(key, slot);
    this.keys[slot] = key;
    this.counts[slot] = 0;
    this.lastLines[slot] = -1;
    return slot;
  }

  private grow(): void {
    const slots = this.counts.length * 2;
    const times = new Float64Array(slots * this.maxRetry);
    times.set(this.times);
    this.times = times;
    const origins = new Uint16Array(slots * this.maxRetry);
    origins.set(this.origins);
    this.origins = origins;
    const counts = new Uint16Array(slots);
    counts.set(this.counts);
    this.counts = counts;
    const lastLines = new Float64Array(slots);
    lastLines.set(this.lastLines);
    this.lastLines = lastLines;
  }

  /** Forget an address (banned, ignored, or expired). */
  delete(key: string): boolean {
    const slot = this.index.get(key);
    if (slot === undefined) return false;
    this.index.delete(key);
    this.keys[slot] = undefined;
    this.counts[slot] = 0;
    this.free.push(slot);
    return true;
  }

  /** Failures kept for `key` (0 when none). */
  count(key: string): number {
    const slot = this.index.get(key);
    return slot === undefined ? 0 : this.counts[slot]!;
  }

  /** Times and interned origins of `key`, oldest first. */
  snapshot(key: string): { times: number[]; origins: number[] } | undefined {
    const slot = this.index.get(key);
    if (slot === undefined) return undefined;
    const base = slot * this.maxRetry;
    const n = this.counts[slot]!;
    return {
      times: Array.from(this.times.subarray(base, base + n)),
      origins: Array.from(this.origins.subarray(base, base + n)),
    };
  }

  /** The distinct interned origins of `key`'s failures. */
  originIds(key: string): number[] {
    const slot = this.index.get(key);
    if (slot === undefined) return [];
    const base = slot * this.maxRetry;
    const out: number[] = [];
    for (let i = 0; i < this.counts[slot]!; i++) {
      const o = this.origins[base + i]!;
      if (!out.includes(o)) out.push(o);
    }
    return out;
  }

  lastLine(key: string): number {
    const slot = this.index.get(key);
    return slot === undefined ? -1 : this.lastLines[slot]!;
  }

  /** The newest failure time of `key`, or undefined. */
  newest(key: string): number | undefined {
    const slot = this.index.get(key);
    if (slot === undefined || this.counts[slot] === 0) return undefined;
    return this.times[slot * this.maxRetry + this.counts[slot]! - 1];
  }

  /** Forget addresses whose newest failure is older than `cutoff` (ms); returns them. */
  sweep(cutoff: number): string[] {
    const gone: string[] = [];
    const cap = this.maxRetry;
    for (const [key, slot] of this.index) {
      const n = this.counts[slot]!;
      if (n === 0 || this.times[slot * cap + n - 1]! < cutoff) gone.push(key);
    }
    for (const k of gone) this.delete(k);
    return gone;
  }

  /** The oldest tracked address (first inserted), to make room when the table is full. */
  oldestKey(): string | undefined {
    return this.index.keys().next().value;
  }

  keysIterator(): IterableIterator<string> {
    return this.index.keys();
  }
}
