import { describe, expect, test } from 'vitest';
import { FrameDecoder, type FrameDecoderConfig } from '../../src/syslog/frame-decoder.js';

/** Feeds `chunks` and returns what came out: frames as text, drops as "!reason". */
function decode(chunks: (string | Buffer)[], config: Partial<FrameDecoderConfig> = {}, end = true): string[] {
  const out: string[] = [];
  const d = new FrameDecoder(
    { maxFrame: 64, maxLengthDigits: 10, ...config },
    { frame: (b, s, e) => out.push(b.toString('latin1', s, e)), drop: (r) => out.push(`!${r}`) },
  );
  for (const c of chunks) d.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
  if (end) d.end();
  return out;
}

const bytes = (s: string) => [...s];

describe('octet counting (RFC 6587 3.4.1)', () => {
  test('frames back to back', () => {
    expect(decode(['5 hello3 abc'])).toEqual(['hello', 'abc']);
  });

  test('a frame split anywhere, down to one byte at a time', () => {
    expect(decode(bytes('11 hello world5 again'))).toEqual(['hello world', 'again']);
    expect(decode(['1', '1 hel', 'lo wor', 'ld'])).toEqual(['hello world']);
  });

  test('an LF inside the count belongs to the message (rsyslog RFC 5424 mode)', () => {
    expect(decode(['6 hello\n4 next'])).toEqual(['hello\n', 'next']);
  });

  test('an LF after the count is a separator, skipped', () => {
    expect(decode(['5 hello\n5 world\r\n'])).toEqual(['hello', 'world']);
  });

  test('a frame longer than maxframe is skipped to its end and counted, the next one read', () => {
    expect(decode(['70 ', 'x'.repeat(30), 'x'.repeat(40), '2 ok'])).toEqual(['!too-long', 'ok']);
  });

  test('a frame of exactly maxframe is kept', () => {
    expect(decode([`64 ${'y'.repeat(64)}`])).toEqual(['y'.repeat(64)]);
  });

  test('a length that is not a number is a framing error; decoding resumes after the next LF', () => {
    expect(decode(['12abc garbage here\n<13>next line\n'])).toEqual(['!framing', '<13>next line']);
  });

  test('a length of 10^12 is no length: framing error, resynchronised at LF, never a terabyte skipped', () => {
    expect(decode(['1000000000000 <13>attack\n', '5 after'])).toEqual(['!framing', 'after']);
  });

  test('a length within the digit limit but over maxframe is skipped as too long', () => {
    expect(decode(['9999999999 ', 'x'.repeat(100)], {}, false)).toEqual(['!too-long']);
  });

  test('a stream that ends inside a counted frame loses that frame (framing), not the earlier ones', () => {
    expect(decode(['5 hello10 cut'])).toEqual(['hello', '!framing']);
  });

  test('invalid UTF-8 passes through as bytes', () => {
    const out: Buffer[] = [];
    const d = new FrameDecoder({ maxFrame: 64, maxLengthDigits: 10 }, { frame: (b, s, e) => out.push(Buffer.from(b.subarray(s, e))), drop: () => {} });
    d.push(Buffer.from([0x34, 0x20, 0xff, 0xfe, 0xc3, 0x28]));
    expect(out).toEqual([Buffer.from([0xff, 0xfe, 0xc3, 0x28])]);
  });
});

describe('a connection gone without an end of stream (idle timeout, reset)', () => {
  /** Like decode(), but the connection is abandoned instead of ended. */
  function abandoned(chunks: string[]): string[] {
    const out: string[] = [];
    const d = new FrameDecoder(
      { maxFrame: 64, maxLengthDigits: 10 },
      { frame: (b, s, e) => out.push(b.toString('latin1', s, e)), drop: (r) => out.push(`!${r}`) },
    );
    for (const c of chunks) d.push(Buffer.from(c, 'latin1'));
    d.abandon();
    return out;
  }

  test('half a line is a framing loss (the sender never finished it)', () => {
    expect(abandoned(['<13>whole\n<13>half of a li'])).toEqual(['<13>whole', '!framing']);
  });

  test('half a counted frame, or half a length, is a framing loss', () => {
    expect(abandoned(['5 hello20 only ten b'])).toEqual(['hello', '!framing']);
    expect(abandoned(['5 hello12'])).toEqual(['hello', '!framing']);
  });

  test('between frames nothing is lost, and a frame already counted as too long is not counted twice', () => {
    expect(abandoned(['5 hello\n'])).toEqual(['hello']);
    expect(abandoned([`70 ${'x'.repeat(10)}`])).toEqual(['!too-long']);
  });
});

describe('non-transparent framing (RFC 6587 3.4.2): LF-terminated', () => {
  test('lines, split anywhere', () => {
    expect(decode(['<13>one\n<13>tw', 'o\n'])).toEqual(['<13>one', '<13>two']);
    expect(decode(bytes('<13>one\n<13>two\n'))).toEqual(['<13>one', '<13>two']);
  });

  test('the last line without LF is delivered when the sender closes', () => {
    expect(decode(['<13>one\n<13>last'])).toEqual(['<13>one', '<13>last']);
  });

  test('a line longer than maxframe is dropped up to its LF, the next line read', () => {
    expect(decode([`<13>${'z'.repeat(100)}`, 'z\n<13>ok\n'])).toEqual(['!too-long', '<13>ok']);
  });

  test('a NUL ends a line as an LF does (senders that end each message with the C string NUL)', () => {
    expect(decode(['<13>one\0<13>two\0<13>thr', 'ee\0\n<13>four\n'])).toEqual(['<13>one', '<13>two', '<13>three', '<13>four']);
    expect(decode(['<13>a\0\0\0<13>b'])).toEqual(['<13>a', '<13>b']);
    // Inside a counted frame a NUL is just a byte of it.
    expect(decode(['5 ab\0cd<13>x\0'])).toEqual(['ab\0cd', '<13>x']);
    // A line too long is skipped to its NUL, and the next one read.
    expect(decode([`${'x'.repeat(70)}\0<13>next\0`])).toEqual(['!too-long', '<13>next']);
  });

  test('empty lines and NULs between frames are separators', () => {
    expect(decode(['\n\n<13>a\n\0\r\n<13>b\n'])).toEqual(['<13>a', '<13>b']);
  });
});

test('both methods mixed on one connection, told apart per frame', () => {
  expect(decode(['<13>line one\n', '9 <13>count', '<13>line two\n'])).toEqual(['<13>line one', '<13>count', '<13>line two']);
});

test('a frame inside one chunk is handed on without a copy', () => {
  const chunk = Buffer.from('5 hello');
  let seen: Buffer | undefined;
  new FrameDecoder({ maxFrame: 64, maxLengthDigits: 10 }, { frame: (b) => (seen = b), drop: () => {} }).push(chunk);
  expect(seen?.buffer).toBe(chunk.buffer);
});

test('maxframe read live: a reload that raises it applies to the next frame', () => {
  const config = { maxFrame: 4, maxLengthDigits: 10 };
  const out: string[] = [];
  const d = new FrameDecoder(config, { frame: (b, s, e) => out.push(b.toString('latin1', s, e)), drop: (r) => out.push(`!${r}`) });
  d.push(Buffer.from('6 abcdef'));
  config.maxFrame = 10;
  d.push(Buffer.from('6 abcdef'));
  expect(out).toEqual(['!too-long', 'abcdef']);
});
