import { hasControl, headerField } from './header-field.js';
import type { ParseOptions } from './parse-options.js';
import { scanBsdStamp, scanIsoStamp } from './stamp.js';
import type { SyslogMessage } from './syslog-message.js';

/** Longest TAG taken as one (RFC 3164 says 32; postfix/cleanup-style tags and long names need more). */
const MAX_TAG = 64;
/** Longest PID inside `TAG[...]`. */
const MAX_PID = 32;

/**
 * The RFC 3164 header after `<PRI>` (or from the start when there is no
 * PRI): `TIMESTAMP SP HOSTNAME SP TAG[PID]: MSG`, as every sender writes it
 * in its own way:
 * - the stamp is `Mmm dd hh:mm:ss`, or ISO 8601 (RSYSLOG_ForwardFormat,
 *   syslog-ng ts-format(iso)), or missing;
 * - the hostname is missing when the sender wrote none (a local logger):
 *   a word ending in `:` or holding `[` right after the stamp is the tag;
 * - the tag is `app:`, `app[pid]:` or absent: `this message has no tag`
 *   keeps all its words in the message (rsyslog would take "this" as the tag,
 *   but nothing says it is one, and a filter should see the whole text).
 */
export function readRfc3164(text: string, i: number, opts: ParseOptions, out: SyslogMessage): void {
  out.format = 'rfc3164';
  const n = text.length;
  const c = text.charCodeAt(i);
  let end = -1;
  if (c >= 48 && c <= 57) end = scanIsoStamp(text, i, opts.zone, out);
  else if ((c | 32) >= 97 && (c | 32) <= 122) end = scanBsdStamp(text, i, opts.zone, opts.now, out);

  // `Mar  7 19:06:53: mx1 ...`: a colon right after the clock (Cisco-style senders); rsyslog takes it as the stamp's end.
  if (end >= 0 && text.charCodeAt(end) === 58 /* : */ && (end + 1 === n || text.charCodeAt(end + 1) === 32)) end++;
  if (end >= 0 && (end === n || text.charCodeAt(end) === 32)) {
    i = end + 1;
    // HOSTNAME, unless the next word is already the tag. A word with a control character in it is no host name (rsyslog agrees): it stays in the message.
    let wordEnd = text.indexOf(' ', i);
    if (wordEnd < 0) wordEnd = n;
    if (wordEnd > i && text.charCodeAt(wordEnd - 1) !== 58 /* : */ && !hasBracket(text, i, wordEnd) && !hasControl(text, i, wordEnd)) {
      out.hostname = text.slice(i, wordEnd);
      i = wordEnd + 1;
    }
  } else {
    out.time = NaN;
  }
  if (i >= n) return;
  i = readTag(text, i, out);
  while (text.charCodeAt(i) === 32) i++;
  out.message = i === 0 ? text : text.slice(i);
}

function hasBracket(text: string, from: number, to: number): boolean {
  const b = text.indexOf('[', from);
  return b >= 0 && b < to;
}

/** Reads `app:` or `app[pid]:` at `i` into `out`; returns where the message starts (`i` when there is no tag). */
function readTag(text: string, i: number, out: SyslogMessage): number {
  const n = text.length;
  const limit = Math.min(n, i + MAX_TAG + 1);
  let k = i;
  let c = 0;
  while (k < limit) {
    c = text.charCodeAt(k);
    if (c === 58 /* : */ || c === 91 /* [ */ || c === 32) break;
    k++;
  }
  if (k === i || k === limit) return i;
  if (c === 58) {
    out.app = headerField(text, i, k);
    return k + 1;
  }
  if (c === 91) {
    const close = text.indexOf(']', k + 1);
    if (close < 0 || close - k - 1 > MAX_PID || close === k + 1) return i;
    const after = text.charCodeAt(close + 1);
    // `app[pid]:` as syslog(3) writes it; `app[pid] text` from senders that drop the colon.
    if (after !== 58 && after !== 32 && close + 1 !== n) return i;
    for (let p = k + 1; p < close; p++) if (text.charCodeAt(p) === 32) return i;
    out.app = headerField(text, i, k);
    out.pid = headerField(text, k + 1, close);
    return after === 58 ? close + 2 : close + 1;
  }
  return i; // a word followed by a space: no tag
}
