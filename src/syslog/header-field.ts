/**
 * A header field (HOSTNAME, APP-NAME or TAG, PROCID, MSGID) as the filters
 * may see it. The filters read `HOSTNAME APP[PID]: MESSAGE` as one line; a
 * control character inside a field (an LF in a hostname, sent in an
 * octet-counted frame) must never reach them raw, or an attacker could
 * start a second "line" there. Control characters are written as `#` and
 * three octal digits, as rsyslog does on receive (an LF becomes `#012`), so
 * the field still shows what the sender wrote.
 */
export function headerField(text: string, start: number, end: number): string {
  for (let k = start; k < end; k++) {
    const c = text.charCodeAt(k);
    if (c < 32 || c === 127) return escapeControls(text.slice(start, end));
  }
  return text.slice(start, end);
}

/** True when `text[start, end)` holds a control character. */
export function hasControl(text: string, start: number, end: number): boolean {
  for (let k = start; k < end; k++) {
    const c = text.charCodeAt(k);
    if (c < 32 || c === 127) return true;
  }
  return false;
}

function escapeControls(s: string): string {
  let out = '';
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    out += c < 32 || c === 127 ? '#' + c.toString(8).padStart(3, '0') : s[k];
  }
  return out;
}
