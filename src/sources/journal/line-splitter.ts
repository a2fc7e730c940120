/**
 * Cuts journalctl's stdout into lines (one JSON entry each) as the bytes
 * arrive, holding at most one partial line of at most `maxLine` bytes.
 *
 * The reader pulls lines one at a time with `next()`, so it can stop in the
 * middle of a chunk when the pipeline is full and go on after it drained:
 * the rest of the chunk waits here, and the stream is paused meanwhile, so
 * nothing more than that chunk is held.
 *
 * States: between lines (`partial` empty), inside a line (`partial` holds
 * its beginning), and discarding a line that grew past `maxLine` (its bytes
 * are dropped until the next newline; the line counts in `oversize`).
 */
export class LineSplitter {
  /** Chunks received and not yet cut; `pos` is the offset in the first. */
  private chunks: Buffer[] = [];
  private pos = 0;
  /** The beginning of the line being read, when it spans chunks. */
  private partial: Buffer[] = [];
  private partialLength = 0;
  private discarding = false;
  /** Lines dropped for being longer than maxLine. */
  oversize = 0;

  constructor(readonly maxLine: number) {}

  feed(chunk: Buffer): void {
    if (chunk.length > 0) this.chunks.push(chunk);
  }

  /** Bytes held (unread chunks and the partial line). */
  get held(): number {
    let n = this.partialLength;
    for (let i = 0; i < this.chunks.length; i++) n += this.chunks[i]!.length;
    return n - this.pos;
  }

  /** The next complete line without its newline, or undefined when none is complete yet. */
  next(): Buffer | undefined {
    while (this.chunks.length > 0) {
      const chunk = this.chunks[0]!;
      const nl = chunk.indexOf(10, this.pos);
      if (nl === -1) {
        const rest = this.pos === 0 ? chunk : chunk.subarray(this.pos);
        this.chunks.shift();
        this.pos = 0;
        if (this.discarding) continue;
        if (this.partialLength + rest.length > this.maxLine) {
          this.dropPartial();
          this.discarding = true;
        } else {
          this.partial.push(rest);
          this.partialLength += rest.length;
        }
        continue;
      }
      const piece = chunk.subarray(this.pos, nl);
      this.pos = nl + 1;
      if (this.pos >= chunk.length) {
        this.chunks.shift();
        this.pos = 0;
      }
      if (this.discarding) {
        // The end of the line that was too long: it was counted when it crossed the limit.
        this.discarding = false;
        continue;
      }
      if (this.partialLength + piece.length > this.maxLine) {
        this.dropPartial();
        continue;
      }
      if (this.partialLength === 0) return piece;
      this.partial.push(piece);
      const line = Buffer.concat(this.partial, this.partialLength + piece.length);
      this.partial = [];
      this.partialLength = 0;
      return line;
    }
    return undefined;
  }

  private dropPartial(): void {
    this.oversize++;
    this.partial = [];
    this.partialLength = 0;
  }
}
