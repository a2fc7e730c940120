import type { ParseOptions } from './parse-options.js';
import { readRfc3164 } from './rfc3164.js';
import { readRfc5424 } from './rfc5424.js';
import type { SyslogMessage } from './syslog-message.js';

export type { ParseOptions } from './parse-options.js';
export type { SyslogMessage } from './syslog-message.js';

/**
 * Parse one syslog message (one datagram or one frame, already decoded from
 * UTF-8 and without its trailing LF or NUL; see `trimFrameEnd`).
 *
 * `<PRI>` (0..191) comes first; then `1 ` announces RFC 5424, anything else
 * is RFC 3164 or looser. A missing or invalid PRI (`<999>`, `<x>`) leaves
 * facility and severity undefined and the text is read from its first byte,
 * so nothing the sender wrote is lost. Never throws.
 */
export function parseSyslog(text: string, opts: ParseOptions): SyslogMessage {
  const out: SyslogMessage = {
    format: 'rfc3164',
    facility: undefined,
    severity: undefined,
    time: NaN,
    hostname: undefined,
    app: undefined,
    pid: undefined,
    msgid: undefined,
    structuredData: undefined,
    message: '',
  };
  // Whitespace before `<PRI>` (some senders put a newline or a space first in a datagram): skipped when a PRI follows.
  let at = 0;
  while (isBlank(text.charCodeAt(at))) at++;
  let i = 0;
  if (text.charCodeAt(at) === 60 /* < */) {
    let pri = 0;
    let k = at + 1;
    while (k <= at + 3) {
      const d = text.charCodeAt(k) - 48;
      if (!(d >= 0 && d <= 9)) break;
      pri = pri * 10 + d;
      k++;
    }
    if (k > at + 1 && text.charCodeAt(k) === 62 /* > */ && pri <= 191) {
      out.facility = pri >> 3;
      out.severity = pri & 7;
      i = k + 1;
      // `<38> Mar  7 19:06:53 ...`: spaces between PRI and the header are no part of it (rsyslog skips them too).
      while (text.charCodeAt(i) === 32) i++;
    }
  }
  if (text.charCodeAt(i) === 49 /* 1 */ && text.charCodeAt(i + 1) === 32) {
    // `<13>1 apple` is RFC 3164 text that starts with "1 ": readRfc5424 says so.
    if (readRfc5424(text, i + 2, opts, out)) return out;
  }
  readRfc3164(text, i, opts, out);
  return out;
}

/** Space, tab, CR or LF. */
function isBlank(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/**
 * End of a frame without the LF, CR and NUL bytes senders append (rsyslog
 * ends even UDP datagrams with LF in RFC 5424 mode; some C senders include
 * the string's NUL). Works on bytes so the decoder never sees them.
 */
export function trimFrameEnd(buf: Uint8Array, start: number, end: number): number {
  while (end > start) {
    const b = buf[end - 1];
    if (b !== 10 && b !== 13 && b !== 0) break;
    end--;
  }
  return end;
}
