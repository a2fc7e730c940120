import { headerField } from './header-field.js';
import type { ParseOptions } from './parse-options.js';
import { scanIsoStamp } from './stamp.js';
import { scanStructuredData } from './structured-data.js';
import type { SyslogMessage } from './syslog-message.js';

/**
 * The RFC 5424 header after `<PRI>1 `:
 *   TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA [SP MSG]
 * Each field may be the NILVALUE `-`. Lenient where real senders differ
 * from the RFC: a message cut short after any field keeps the fields it has;
 * rsyslog's RSYSLOG_SyslogProtocol23Format puts two spaces before MSG;
 * malformed structured data is kept as message text rather than lost.
 *
 * Returns false when the timestamp is neither `-` nor ISO 8601: then this
 * was not RFC 5424 after all (`<13>1 apple` is an RFC 3164 message that
 * happens to start with "1 "), and the caller reads it as RFC 3164.
 */
export function readRfc5424(text: string, i: number, opts: ParseOptions, out: SyslogMessage): boolean {
  const n = text.length;
  if (text.charCodeAt(i) === 45 /* - */) {
    out.time = NaN;
    i++;
  } else {
    i = scanIsoStamp(text, i, opts.zone, out);
    if (i < 0) return false;
  }
  if (i < n && text.charCodeAt(i) !== 32) return false;
  out.format = 'rfc5424';
  i++;

  // HOSTNAME, APP-NAME, PROCID, MSGID: space-separated tokens, `-` for none.
  // No field may be empty (an absent one is `-`), so a run of spaces is one
  // separator, not empty fields: `host  app  123` keeps app and procid apart.
  for (let field = 0; field < 4 && i < n; field++) {
    while (text.charCodeAt(i) === 32) i++;
    if (i >= n) break;
    let end = text.indexOf(' ', i);
    if (end < 0) end = n;
    const value = end - i === 1 && text.charCodeAt(i) === 45 ? undefined : headerField(text, i, end);
    if (field === 0) out.hostname = value;
    else if (field === 1) out.app = value;
    else if (field === 2) out.pid = value;
    else out.msgid = value;
    i = end + 1;
  }
  while (text.charCodeAt(i) === 32) i++;
  if (i >= n) return true;

  const c = text.charCodeAt(i);
  if (c === 45 /* - */ && (i + 1 === n || text.charCodeAt(i + 1) === 32)) {
    i += 2;
  } else if (c === 91 /* [ */) {
    const end = scanStructuredData(text, i);
    if (end >= 0 && (end === n || text.charCodeAt(end) === 32)) {
      out.structuredData = text.slice(i, end);
      i = end + 1;
    }
    // else: not valid structured data; keep it all as the message.
  }
  if (i >= n) return true;
  if (text.charCodeAt(i) === 0xfeff) i++; // the BOM RFC 5424 puts before UTF-8 text
  while (text.charCodeAt(i) === 32) i++;
  out.message = text.slice(i);
  return true;
}
