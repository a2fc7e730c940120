/**
 * The failures of every address of one jail inside `findtime` (fail2ban's
 * failmanager). An address is due for a ban when `maxretry` of its failures
 * lie within `findtime` of each other, by event time; both edges count, so
 * failures at 0 s, 300 s and 600 s ban with maxretry 3 and findtime 600.
 *
 * Attackers choose how many addresses this holds (a million is a quiet day
 * for a botnet), so it is built for that:
 * - each address has a slot; a slot's data lives in typed arrays: the
 *   `maxretry` latest failure times, sorted, the origin of each, a count, the
 *   last matched line's number, flags. An older failure can no longer
 *   complete a window that the newer ones do not, so no more are kept;
 * - IPv4 addresses are found through an open-addressing hash table of their
 *   32-bit values, so the address strings the filter made are not kept;
 *   IPv6 addresses and networks (rarer, and longer) go through a Map;
 * - nothing is allocated per failure of a known address, and a new one
 *   costs a few bytes of typed arrays.
 * Slots changed since the last write to the state database are listed, so
 * the write-behind visits only those.
 */

const USED = 1;
const V4 = 2;
const DIRTY = 4;

/** Value of a dotted quad, or -1 when `s` is not one. No allocation. */
function ipv4Value(s: string): number {
  const n = s.length;
  if (n < 7 || n > 15) return -1;
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= n; i++) {
    const c = i === n ? 46 : s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 255) return -1;
      value = value * 256 + part;
      parts++;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3) return -1;
    } else {
      return -1;
    }
  }
  return parts === 4 ? value : -1;
}

function formatIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Spread the bits of an address over the table (Fibonacci hashing). */
function hash32(v: number, shift: number): number {
  return Math.imul(v | 0, 0x9e3779b1) >>> shift;
}

export class FailureWindow {
  // ---- per slot ----
  /** slot * cap + i: event times, ms, ascending. */
  private times: Float64Array;
  /** Interned origin of each time. */
  private origins: Uint16Array;
  private counts: Uint16Array;
  /** Sequence number of the slot's last line in the jail's MatchRing, -1 for none. */
  private lastLines: Float64Array;
  private flags: Uint8Array;
  /** The IPv4 address of a V4 slot. */
  private addrs: Uint32Array;
  /** The key of a non-IPv4 slot. */
  private readonly names: (string | undefined)[] = [];
  private freeSlots: Int32Array;
  private freeCount = 0;
  private used = 0;
  private live = 0;

  // ---- IPv4 index: open addressing, linear probing; entries are slot + 1, 0 is empty ----
  private table: Int32Array;
  private shift: number;
  private v4Count = 0;

  // ---- other keys ----
  private readonly index = new Map<string, number>();

  // ---- slots to write ----
  private dirty: Int32Array;
  private dirtyCount = 0;

  constructor(
    readonly maxRetry: number,
    readonly findTimeMs: number,
    initialSlots = 1024,
  ) {
    const slots = Math.max(16, initialSlots);
    this.times = new Float64Array(slots * maxRetry);
    this.origins = new Uint16Array(slots * maxRetry);
    this.counts = new Uint16Array(slots);
    this.lastLines = new Float64Array(slots);
    this.flags = new Uint8Array(slots);
    this.addrs = new Uint32Array(slots);
    this.freeSlots = new Int32Array(64);
    this.dirty = new Int32Array(slots);
    this.table = new Int32Array(slots * 2);
    this.shift = 32 - Math.log2(slots * 2);
  }

  /** Addresses tracked. */
  get size(): number {
    return this.live;
  }

  // ---- finding slots ------------------------------------------------------

  /** The slot of `key`, or -1. */
  lookup(key: string): number {
    const v = ipv4Value(key);
    if (v < 0) return this.index.get(key) ?? -1;
    const mask = this.table.length - 1;
    for (let i = hash32(v, this.shift); ; i = (i + 1) & mask) {
      const e = this.table[i]!;
      if (e === 0) return -1;
      if (this.addrs[e - 1] === v && (this.flags[e - 1]! & V4) !== 0) return e - 1;
    }
  }

  /** A slot for `key`, which must not have one. */
  allocate(key: string): number {
    const slot = this.takeSlot();
    const v = ipv4Value(key);
    this.counts[slot] = 0;
    this.lastLines[slot] = -1;
    if (v >= 0) {
      this.flags[slot] = (this.flags[slot]! & DIRTY) | USED | V4;
      this.addrs[slot] = v;
      if ((this.v4Count + 1) * 2 > this.table.length) this.rehash(this.table.length * 2);
      const mask = this.table.length - 1;
      let i = hash32(v, this.shift);
      while (this.table[i] !== 0) i = (i + 1) & mask;
      this.table[i] = slot + 1;
      this.v4Count++;
    } else {
      this.flags[slot] = (this.flags[slot]! & DIRTY) | USED;
      this.names[slot] = key;
      this.index.set(key, slot);
    }
    this.live++;
    return slot;
  }

  private takeSlot(): number {
    if (this.freeCount > 0) return this.freeSlots[--this.freeCount]!;
    const slot = this.used++;
    if (slot >= this.counts.length) this.grow();
    return slot;
  }

  private grow(): void {
    const slots = this.counts.length * 2;
    const cap = this.maxRetry;
    const widen = <T extends Float64Array | Uint16Array | Uint8Array | Uint32Array>(a: T, make: (n: number) => T, n: number): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.times = widen(this.times, (n) => new Float64Array(n), slots * cap);
    this.origins = widen(this.origins, (n) => new Uint16Array(n), slots * cap);
    this.counts = widen(this.counts, (n) => new Uint16Array(n), slots);
    this.lastLines = widen(this.lastLines, (n) => new Float64Array(n), slots);
    this.flags = widen(this.flags, (n) => new Uint8Array(n), slots);
    this.addrs = widen(this.addrs, (n) => new Uint32Array(n), slots);
  }

  private rehash(size: number): void {
    const old = this.table;
    this.table = new Int32Array(size);
    this.shift = 32 - Math.log2(size);
    const mask = size - 1;
    for (let k = 0; k < old.length; k++) {
      const e = old[k]!;
      if (e === 0) continue;
      let i = hash32(this.addrs[e - 1]!, this.shift);
      while (this.table[i] !== 0) i = (i + 1) & mask;
      this.table[i] = e;
    }
  }

  /** The key (address or network) of a slot. */
  keyAt(slot: number): string {
    return (this.flags[slot]! & V4) !== 0 ? formatIpv4(this.addrs[slot]!) : this.names[slot]!;
  }

  // ---- counting ------------------------------------------------------------

  /**
   * Count `weight` failures at `time` from `origin` in `slot`; returns true
   * when the address now has maxretry failures within findtime.
   */
  addAt(slot: number, time: number, origin: number, weight: number, changed = true): boolean {
    let due = false;
    for (let w = 0; w < weight; w++) if (this.insert(slot, time, origin)) due = true;
    if (changed) this.markDirty(slot);
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
        // with the oldest kept ones, or it is of no more use.
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

  /**
   * Find or make the slot, then count. `changed = false` for failures read
   * back from the state database: they need no writing.
   */
  add(key: string, time: number, origin: number, weight = 1, changed = true): boolean {
    let slot = this.lookup(key);
    if (slot < 0) slot = this.allocate(key);
    return this.addAt(slot, time, origin, weight, changed);
  }

  setLastLine(slot: number, seq: number): void {
    this.lastLines[slot] = seq;
  }

  lastLineAt(slot: number): number {
    return this.lastLines[slot]!;
  }

  countAt(slot: number): number {
    return this.counts[slot]!;
  }

  /** The newest failure time of a slot. */
  newestAt(slot: number): number {
    return this.times[slot * this.maxRetry + this.counts[slot]! - 1]!;
  }

  /** Times and interned origins of a slot, oldest first. */
  snapshotAt(slot: number): { times: number[]; origins: number[] } {
    const base = slot * this.maxRetry;
    const n = this.counts[slot]!;
    return {
      times: Array.from(this.times.subarray(base, base + n)),
      origins: Array.from(this.origins.subarray(base, base + n)),
    };
  }

  /** The distinct interned origins of a slot's failures. */
  originIdsAt(slot: number): number[] {
    const base = slot * this.maxRetry;
    const out: number[] = [];
    for (let i = 0; i < this.counts[slot]!; i++) {
      const o = this.origins[base + i]!;
      if (!out.includes(o)) out.push(o);
    }
    return out;
  }

  // ---- forgetting ------------------------------------------------------------

  /** Forget an address (banned, ignored, expired or evicted). */
  delete(key: string): boolean {
    const slot = this.lookup(key);
    if (slot < 0) return false;
    this.deleteSlot(slot);
    return true;
  }

  deleteSlot(slot: number): void {
    const f = this.flags[slot]!;
    if ((f & USED) === 0) return;
    if ((f & V4) !== 0) this.unindexV4(slot);
    else {
      this.index.delete(this.names[slot]!);
      this.names[slot] = undefined;
    }
    // The DIRTY mark stays: the slot is still listed, and the list is drained by flag.
    this.flags[slot] = f & DIRTY;
    this.counts[slot] = 0;
    this.live--;
    if (this.freeCount === this.freeSlots.length) {
      const bigger = new Int32Array(this.freeSlots.length * 2);
      bigger.set(this.freeSlots);
      this.freeSlots = bigger;
    }
    this.freeSlots[this.freeCount++] = slot;
  }

  /** Remove a slot from the IPv4 table, shifting back the entries after it (no tombstones). */
  private unindexV4(slot: number): void {
    const mask = this.table.length - 1;
    let i = hash32(this.addrs[slot]!, this.shift);
    while (this.table[i] !== slot + 1) i = (i + 1) & mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const e = this.table[j]!;
      if (e === 0) break;
      const home = hash32(this.addrs[e - 1]!, this.shift);
      // Move e back into the hole when its home is not in (i, j] (cyclically).
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        this.table[i] = e;
        i = j;
      }
    }
    this.table[i] = 0;
    this.v4Count--;
  }

  /** Forget addresses whose newest failure is older than `cutoff` (ms); returns how many. */
  sweep(cutoff: number): number {
    let n = 0;
    for (let s = 0; s < this.used; s++) {
      if ((this.flags[s]! & USED) === 0) continue;
      if (this.counts[s] === 0 || this.newestAt(s) < cutoff) {
        this.deleteSlot(s);
        n++;
      }
    }
    return n;
  }

  /**
   * Make room: forget the address, among a few picked at random, whose
   * newest failure is oldest (sampling, as an LRU cache under pressure
   * does). Returns its key.
   */
  evictOne(random: () => number): string | undefined {
    let best = -1;
    let bestTime = Infinity;
    for (let k = 0; k < 8; k++) {
      const s = Math.floor(random() * this.used);
      if ((this.flags[s]! & USED) === 0 || this.counts[s] === 0) continue;
      const t = this.newestAt(s);
      if (t < bestTime) {
        best = s;
        bestTime = t;
      }
    }
    if (best < 0) {
      for (let s = 0; s < this.used && best < 0; s++) if ((this.flags[s]! & USED) !== 0) best = s;
      if (best < 0) return undefined;
    }
    const key = this.keyAt(best);
    this.deleteSlot(best);
    return key;
  }

  /** Every tracked key (for reloads; allocates). */
  *keys(): IterableIterator<string> {
    for (let s = 0; s < this.used; s++) if ((this.flags[s]! & USED) !== 0) yield this.keyAt(s);
  }

  // ---- the write-behind ----------------------------------------------------

  private markDirty(slot: number): void {
    const f = this.flags[slot]!;
    if ((f & DIRTY) !== 0) return;
    this.flags[slot] = f | DIRTY;
    if (this.dirtyCount === this.dirty.length) {
      const bigger = new Int32Array(this.dirty.length * 2);
      bigger.set(this.dirty);
      this.dirty = bigger;
    }
    this.dirty[this.dirtyCount++] = slot;
  }

  /** Slots waiting to be written. */
  get pendingWrites(): number {
    return this.dirtyCount;
  }

  /**
   * Hand up to `max` changed slots still in use to `write`, and forget them
   * as changed. Returns how many were handed over.
   */
  drainDirty(max: number, write: (slot: number) => void): number {
    let n = 0;
    while (this.dirtyCount > 0 && n < max) {
      const slot = this.dirty[--this.dirtyCount]!;
      const f = this.flags[slot]!;
      this.flags[slot] = f & ~DIRTY;
      if ((f & USED) !== 0) {
        write(slot);
        n++;
      }
    }
    return n;
  }

  // ---- by key (tests, restore, bans: not the hot path) ----

  has(key: string): boolean {
    return this.lookup(key) >= 0;
  }

  count(key: string): number {
    const s = this.lookup(key);
    return s < 0 ? 0 : this.counts[s]!;
  }

  snapshot(key: string): { times: number[]; origins: number[] } | undefined {
    const s = this.lookup(key);
    return s < 0 ? undefined : this.snapshotAt(s);
  }
}
