import type { Timezone } from './timezone.js';
import { daysInMonth, inferYear } from './year.js';

/**
 * The two timestamp shapes syslog senders write, scanned in place (no
 * regex, no substring) because every message has one:
 *
 * - ISO 8601 / RFC 3339, as RFC 5424 requires and rsyslog's
 *   RSYSLOG_ForwardFormat puts in an RFC 3164 header:
 *   `2026-11-21T19:28:34.907376+00:00`.
 * - The BSD stamp of RFC 3164: `Nov 21 19:28:18`, day padded with a space
 *   (`Nov  1`), no year, no zone.
 *
 * Each scanner returns the offset just past the stamp, or -1 when the text
 * there is not a stamp of that shape; the time (ms since the epoch) is left
 * in `out.time`.
 */
export interface StampOut {
  time: number;
}

/**
 * Value of two ASCII digits at `i`, or -1. Past the end of the text
 * charCodeAt gives NaN, which fails every comparison: the test is written
 * so that NaN is "not a digit" (a stamp cut short, `2026-11-21T19:2`, is no
 * stamp), never a value that slips through the range checks.
 */
function digits2(text: string, i: number): number {
  const a = text.charCodeAt(i) - 48;
  const b = text.charCodeAt(i + 1) - 48;
  if (!(a >= 0 && a <= 9 && b >= 0 && b <= 9)) return -1;
  return a * 10 + b;
}

function digits4(text: string, i: number): number {
  const hi = digits2(text, i);
  const lo = digits2(text, i + 2);
  return hi < 0 || lo < 0 ? -1 : hi * 100 + lo;
}

/**
 * `hh:mm:ss` with an optional fraction `.d{1,9}`. Fills `hms` with hours,
 * minutes, seconds, milliseconds. Returns the end offset or -1.
 */
function scanClock(text: string, i: number, hms: number[]): number {
  const h = digits2(text, i);
  const m = digits2(text, i + 3);
  const s = digits2(text, i + 6);
  if (h < 0 || m < 0 || s < 0 || text.charCodeAt(i + 2) !== 58 || text.charCodeAt(i + 5) !== 58) return -1;
  // 60 is a leap second; Date rolls it into the next minute, which is close enough.
  if (h > 23 || m > 59 || s > 60) return -1;
  hms[0] = h;
  hms[1] = m;
  hms[2] = s;
  hms[3] = 0;
  let end = i + 8;
  if (text.charCodeAt(end) === 46 /* . */) {
    let ms = 0;
    let scale = 100;
    let k = end + 1;
    // RFC 5424 allows six fraction digits; accept up to nine, keep milliseconds.
    while (k < text.length && k - end <= 9) {
      const d = text.charCodeAt(k) - 48;
      if (d < 0 || d > 9) break;
      ms += d * scale;
      scale /= 10;
      k++;
    }
    if (k === end + 1) return -1;
    hms[3] = Math.floor(ms);
    end = k;
  }
  return end;
}

const clock = [0, 0, 0, 0];

/**
 * ISO 8601 date-time at `i`: `YYYY-MM-DD`, `T`, clock, then
 * `Z`, `+hh:mm`, `+hhmm` or nothing (then read in `zone`).
 */
export function scanIsoStamp(text: string, i: number, zone: Timezone, out: StampOut): number {
  const year = digits4(text, i);
  const month = digits2(text, i + 5);
  const day = digits2(text, i + 8);
  if (year < 0 || month < 1 || month > 12 || day < 1) return -1;
  if (text.charCodeAt(i + 4) !== 45 || text.charCodeAt(i + 7) !== 45) return -1;
  const sep = text.charCodeAt(i + 10);
  if (sep !== 84 /* T */ && sep !== 116 /* t */) return -1;
  if (day > daysInMonth(year, month - 1)) return -1;
  let end = scanClock(text, i + 11, clock);
  if (end < 0) return -1;
  const c = text.charCodeAt(end);
  if (c === 90 /* Z */ || c === 122 /* z */) {
    out.time = Date.UTC(year, month - 1, day, clock[0]!, clock[1]!, clock[2]!, clock[3]!);
    return end + 1;
  }
  if (c === 43 /* + */ || c === 45 /* - */) {
    const oh = digits2(text, end + 1);
    let om: number;
    let after: number;
    if (text.charCodeAt(end + 3) === 58 /* : */) {
      om = digits2(text, end + 4);
      after = end + 6;
    } else {
      om = digits2(text, end + 3);
      after = end + 5;
    }
    if (oh < 0 || om < 0 || oh > 23 || om > 59) return -1;
    const offset = (c === 45 ? -1 : 1) * (oh * 60 + om) * 60_000;
    out.time = Date.UTC(year, month - 1, day, clock[0]!, clock[1]!, clock[2]!, clock[3]!) - offset;
    return after;
  }
  out.time = zone.toEpoch(year, month - 1, day, clock[0]!, clock[1]!, clock[2]!, clock[3]!);
  return end;
}

/** Month of a three-letter English abbreviation at `i` (any case), 0-based, or -1. */
function monthAt(text: string, i: number): number {
  const key = ((text.charCodeAt(i) | 32) << 16) | ((text.charCodeAt(i + 1) | 32) << 8) | (text.charCodeAt(i + 2) | 32);
  return MONTHS.get(key) ?? -1;
}

const MONTHS = new Map<number, number>(
  ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'].map((m, n) => [
    (m.charCodeAt(0) << 16) | (m.charCodeAt(1) << 8) | m.charCodeAt(2),
    n,
  ]),
);

/**
 * BSD stamp at `i`: `Mmm dd hh:mm:ss` with the day space-padded (`Nov  1`)
 * or not (`Nov 1`), an optional fraction, and an optional year before the
 * clock (`Nov 21 2026 19:28:18`, as some appliances write). Without a year,
 * the year nearest to `now` is taken (see year.ts).
 */
export function scanBsdStamp(text: string, i: number, zone: Timezone, now: number, out: StampOut): number {
  const month = monthAt(text, i);
  if (month < 0 || text.charCodeAt(i + 3) !== 32) return -1;
  let k = i + 4;
  if (text.charCodeAt(k) === 32) k++; // space padding of a one-digit day
  let day = text.charCodeAt(k) - 48;
  if (!(day >= 0 && day <= 9)) return -1; // NaN past the end too
  k++;
  const d2 = text.charCodeAt(k) - 48;
  if (d2 >= 0 && d2 <= 9) {
    day = day * 10 + d2;
    k++;
  }
  if (day < 1 || day > 31 || text.charCodeAt(k) !== 32) return -1;
  k++;
  let year = -1;
  if (text.charCodeAt(k + 4) === 32) {
    year = digits4(text, k);
    if (year < 0) return -1;
    k += 5;
  }
  const end = scanClock(text, k, clock);
  if (end < 0) return -1;
  if (year < 0) year = inferYear(month, day, clock[0]!, clock[1]!, clock[2]!, now);
  if (day > daysInMonth(year, month)) return -1;
  out.time = zone.toEpoch(year, month, day, clock[0]!, clock[1]!, clock[2]!, clock[3]!);
  return end;
}
