/**
 * RFC 6587 framing of syslog over a byte stream (TCP, and TLS per RFC 5425),
 * both methods told apart frame by frame, as rsyslog and syslog-ng do:
 *
 * - octet counting: `MSG-LEN SP MSG`, MSG-LEN a decimal without leading
 *   zero. A frame that starts with a digit 1-9 is counted.
 * - non-transparent framing: MSG up to LF, or up to NUL (senders that end
 *   each message with the C string's NUL, as rsyslog's imtcp accepts with
 *   AddtlFrameDelimiter="0"; without it, several such messages would merge
 *   into one frame). A frame that starts with anything else (normally the
 *   `<` of PRI) runs to the next LF or NUL. A NUL is never part of a log
 *   line, so ending a frame there costs no legitimate message.
 *
 * Bytes arrive in any chunking, down to one at a time; a frame that lies
 * whole inside a chunk is handed on as a slice of that chunk, without a copy.
 * Bad input never stops the stream: every problem is reported through
 * `FrameSink.drop` and decoding goes on at the next frame it can find.
 */

export interface FrameDecoderConfig {
  /** Longest frame handed on (bytes of MSG, without MSG-LEN or LF). Longer frames are skipped to their end and dropped as too long. */
  maxFrame: number;
  /**
   * Most digits a MSG-LEN may have. A longer one (`1000000000000 `) is no
   * length any sender would write: it is a framing error, and decoding
   * resynchronises at the next LF instead of skipping a terabyte.
   */
  maxLengthDigits: number;
}

export const DEFAULT_FRAME_DECODER_CONFIG: FrameDecoderConfig = { maxFrame: 64 * 1024, maxLengthDigits: 10 };

export type FrameDropReason = 'too-long' | 'framing';

export interface FrameSink {
  /** One complete frame: `buf[start, end)`. The bytes are only valid during the call. */
  frame(buf: Buffer, start: number, end: number): void;
  /** A frame was lost: too long for `maxFrame`, or not framed as RFC 6587 says. */
  drop(reason: FrameDropReason): void;
}

const enum State {
  /** Between frames: the next byte decides the method. LF, CR and NUL here are separators left by senders that append them outside the count; they are skipped. */
  FrameStart,
  /** Reading MSG-LEN digits, up to the SP. */
  Length,
  /** Inside a counted frame: `remaining` bytes still to come. */
  Counted,
  /** Inside an LF-terminated frame: bytes up to the next LF. */
  Line,
  /** Skipping the rest of a counted frame that is too long. */
  SkipCounted,
  /** Skipping to the next LF or NUL: a line that is too long, or garbage after a bad MSG-LEN. */
  SkipLine,
}

const LF = 10;
const CR = 13;
const SP = 32;

export class FrameDecoder {
  private state = State.FrameStart;
  /** MSG-LEN read so far, or bytes left of a counted frame. */
  private remaining = 0;
  private digits = 0;
  /** Pieces of a frame that spans chunks, and their total length. */
  private parts: Buffer[] = [];
  private partsLength = 0;

  constructor(
    private readonly config: FrameDecoderConfig,
    private readonly sink: FrameSink,
  ) {}

  /** Bytes held for a frame not yet complete (at most maxFrame). */
  get buffered(): number {
    return this.partsLength;
  }

  push(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    // Where the next NUL of this chunk is: -2 not searched yet, -1 none left. Searched once per chunk, not once per line.
    let nul = -2;
    /** End of the line that starts at `from`: the first LF or NUL, or -1 when the chunk has neither. */
    const lineEnd = (from: number): number => {
      if (nul === -2 || (nul >= 0 && nul < from)) nul = chunk.indexOf(0, from);
      const lf = chunk.indexOf(LF, from);
      if (nul < 0) return lf;
      return lf < 0 || nul < lf ? nul : lf;
    };
    while (i < n) {
      switch (this.state) {
        case State.FrameStart: {
          const b = chunk[i]!;
          if (b === LF || b === CR || b === 0) {
            i++;
          } else if (b >= 49 && b <= 57) {
            this.state = State.Length;
            this.remaining = b - 48;
            this.digits = 1;
            i++;
          } else {
            this.state = State.Line;
          }
          break;
        }

        case State.Length: {
          const b = chunk[i++]!;
          if (b >= 48 && b <= 57) {
            if (++this.digits > this.config.maxLengthDigits) {
              this.sink.drop('framing');
              this.state = State.SkipLine;
            } else {
              this.remaining = this.remaining * 10 + (b - 48);
            }
          } else if (b === SP) {
            if (this.remaining > this.config.maxFrame) {
              this.sink.drop('too-long');
              this.state = State.SkipCounted;
            } else {
              this.state = State.Counted;
            }
          } else {
            // Digits not followed by SP: not a length. rsyslog resynchronises on LF too.
            this.sink.drop('framing');
            this.state = b === LF ? State.FrameStart : State.SkipLine;
          }
          break;
        }

        case State.Counted: {
          const take = Math.min(this.remaining, n - i);
          if (this.partsLength === 0 && take === this.remaining) {
            this.sink.frame(chunk, i, i + take); // whole frame inside this chunk
          } else {
            this.parts.push(chunk.subarray(i, i + take));
            this.partsLength += take;
            if (take === this.remaining) this.flushParts();
          }
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = State.FrameStart;
          break;
        }

        case State.Line: {
          const lf = lineEnd(i);
          const end = lf < 0 ? n : lf;
          if (this.partsLength + (end - i) > this.config.maxFrame) {
            this.discardParts();
            this.sink.drop('too-long');
            this.state = State.SkipLine;
            break; // SkipLine finds the same LF
          }
          if (lf < 0) {
            this.parts.push(chunk.subarray(i, n));
            this.partsLength += n - i;
          } else if (this.partsLength === 0) {
            this.sink.frame(chunk, i, lf);
            this.state = State.FrameStart;
          } else {
            this.parts.push(chunk.subarray(i, lf));
            this.partsLength += lf - i;
            this.flushParts();
            this.state = State.FrameStart;
          }
          i = lf < 0 ? n : lf + 1;
          break;
        }

        case State.SkipCounted: {
          const take = Math.min(this.remaining, n - i);
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = State.FrameStart;
          break;
        }

        case State.SkipLine: {
          const lf = lineEnd(i);
          if (lf < 0) {
            i = n;
          } else {
            i = lf + 1;
            this.state = State.FrameStart;
          }
          break;
        }
      }
    }
  }

  /**
   * The stream ended. A last line without LF is still a message (senders
   * close right after writing it); a counted frame cut short is not.
   */
  end(): void {
    if (this.state === State.Line && this.partsLength > 0) this.flushParts();
    else if (this.state === State.Counted || this.state === State.Length) {
      this.discardParts();
      this.sink.drop('framing');
    }
    this.discardParts();
    this.state = State.FrameStart;
  }

  /**
   * The connection is gone without an end of stream (idle timeout, reset,
   * listener closed). A frame begun and not finished is lost: counted as
   * `framing`, since the sender never completed it. Between frames, or while
   * skipping a frame already counted, nothing is lost.
   */
  abandon(): void {
    const midFrame =
      this.state === State.Length || this.state === State.Counted || (this.state === State.Line && this.partsLength > 0);
    this.discardParts();
    this.state = State.FrameStart;
    if (midFrame) this.sink.drop('framing');
  }

  private flushParts(): void {
    const whole = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partsLength);
    this.discardParts();
    this.sink.frame(whole, 0, whole.length);
  }

  private discardParts(): void {
    this.parts = [];
    this.partsLength = 0;
  }
}
