/**
 * The last few thousand matched lines of a jail, each linked to the previous
 * line of the same address, so a ban can carry "a few matched lines" without
 * the jail keeping lines for every one of the million addresses it tracks.
 * A line that has been overwritten is simply gone: the ban keeps what is left.
 */
export class MatchRing {
  private readonly lines: (string | undefined)[];
  private readonly prev: Float64Array;
  private readonly mask: number;
  private next = 0;

  /** `size` is rounded up to a power of two. */
  constructor(size = 4096) {
    let n = 1;
    while (n < size) n <<= 1;
    this.mask = n - 1;
    this.lines = new Array<string | undefined>(n);
    this.prev = new Float64Array(n);
  }

  /** Store a line; `previous` is the number of the address's line before it (-1: none). Returns this line's number. */
  push(line: string, previous: number): number {
    const seq = this.next++;
    // `&` works on the low 32 bits, which is all the index needs.
    const i = seq & this.mask;
    this.lines[i] = line;
    this.prev[i] = previous;
    return seq;
  }

  /** Up to `max` lines of an address, oldest first, following its chain back from `last`. */
  collect(last: number, max: number): string[] {
    const out: string[] = [];
    const oldest = this.next - (this.mask + 1);
    for (let seq = last; seq >= 0 && seq >= oldest && out.length < max; seq = this.prev[seq & this.mask]!) {
      out.push(this.lines[seq & this.mask]!);
    }
    return out.reverse();
  }
}
