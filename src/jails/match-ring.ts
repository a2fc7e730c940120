/**
 * The last few thousand matched lines of a jail, each linked to the previous
 * line of the same address, so a ban can carry "a few matched lines" without
 * the jail keeping lines for every one of the million addresses it tracks.
 * A line that has been overwritten is simply gone: the ban keeps what is left.
 */
export class MatchRing {
  private readonly keys: (string | undefined)[];
  private readonly lines: (string | undefined)[];
  private readonly prev: Float64Array;
  private readonly mask: number;
  private next = 0;

  /** `size` is rounded up to a power of two. */
  constructor(size = 4096) {
    let n = 1;
    while (n < size) n <<= 1;
    this.mask = n - 1;
    this.keys = new Array<string | undefined>(n);
    this.lines = new Array<string | undefined>(n);
    this.prev = new Float64Array(n);
  }

  /** Store `line` of `key`; `previous` is the sequence number of its last line (-1: none). Returns this line's number. */
  push(key: string, line: string, previous: number): number {
    const seq = this.next++;
    const i = seq & this.mask;
    this.keys[i] = key;
    this.lines[i] = line;
    this.prev[i] = previous;
    return seq;
  }

  /** Up to `max` lines of `key`, oldest first, following the chain back from `last`. */
  collect(key: string, last: number, max: number): string[] {
    const out: string[] = [];
    const size = this.mask + 1;
    let seq = last;
    while (seq >= 0 && out.length < max && seq >= this.next - size) {
      const i = seq & this.mask;
      if (this.keys[i] !== key) break;
      out.push(this.lines[i]!);
      seq = this.prev[i]!;
    }
    return out.reverse();
  }
}
