/**
 * Bans ordered by their end (a binary min-heap). Entries are not removed
 * when a ban is lifted early or replaced; whoever pops one checks that the
 * ban it names still ends at that time.
 */
export class ExpiryQueue {
  private until: number[] = [];
  private jails: string[] = [];
  private keys: string[] = [];

  get size(): number {
    return this.until.length;
  }

  push(until: number, jail: string, key: string): void {
    this.until.push(until);
    this.jails.push(jail);
    this.keys.push(key);
    let i = this.until.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.until[p]! <= this.until[i]!) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** The earliest end, or undefined when empty. */
  peek(): number | undefined {
    return this.until[0];
  }

  /** Remove and return the earliest entry. */
  pop(): { until: number; jail: string; key: string } | undefined {
    const n = this.until.length;
    if (n === 0) return undefined;
    const top = { until: this.until[0]!, jail: this.jails[0]!, key: this.keys[0]! };
    this.swap(0, n - 1);
    this.until.pop();
    this.jails.pop();
    this.keys.pop();
    let i = 0;
    const m = n - 1;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let s = i;
      if (l < m && this.until[l]! < this.until[s]!) s = l;
      if (r < m && this.until[r]! < this.until[s]!) s = r;
      if (s === i) break;
      this.swap(i, s);
      i = s;
    }
    return top;
  }

  private swap(a: number, b: number): void {
    const u = this.until[a]!;
    this.until[a] = this.until[b]!;
    this.until[b] = u;
    const j = this.jails[a]!;
    this.jails[a] = this.jails[b]!;
    this.jails[b] = j;
    const k = this.keys[a]!;
    this.keys[a] = this.keys[b]!;
    this.keys[b] = k;
  }
}
