/**
 * RFC 5424 STRUCTURED-DATA: `-`, or one or more elements
 * `[id name="value" name="value"]` back to back. Inside a value `\"`, `\]`
 * and `\\` are escapes; any other backslash stands for itself (RFC 5424
 * 6.3.3). The parser only needs to know where the data ends, which is why
 * scanning and decoding are separate: decoding runs only when someone asks.
 */

export interface StructuredDataElement {
  id: string;
  /** In the order written; a name may repeat (RFC 5424 allows it). */
  params: [name: string, value: string][];
}

const SP = 32;
const QUOTE = 34;
const EQ = 61;
const BACKSLASH = 92;
const OPEN = 91;
const CLOSE = 93;

/** True for a character allowed in SD-NAME: printable US-ASCII except `=`, SP, `]`, `"`. */
function isNameChar(c: number): boolean {
  return c > 32 && c < 127 && c !== EQ && c !== CLOSE && c !== QUOTE;
}

/**
 * Offset just past the structured data that starts with `[` at `i`, or -1
 * when it is malformed (the caller then keeps those bytes as message text).
 */
export function scanStructuredData(text: string, i: number): number {
  const n = text.length;
  while (i < n && text.charCodeAt(i) === OPEN) {
    i++;
    const idStart = i;
    while (i < n && isNameChar(text.charCodeAt(i))) i++;
    if (i === idStart) return -1;
    for (;;) {
      if (i >= n) return -1;
      const c = text.charCodeAt(i);
      if (c === CLOSE) {
        i++;
        break;
      }
      if (c !== SP) return -1;
      i++;
      const nameStart = i;
      while (i < n && isNameChar(text.charCodeAt(i))) i++;
      if (i === nameStart || text.charCodeAt(i) !== EQ || text.charCodeAt(i + 1) !== QUOTE) return -1;
      i += 2;
      // PARAM-VALUE runs to the first quote that is not escaped.
      for (;;) {
        if (i >= n) return -1;
        const v = text.charCodeAt(i);
        if (v === QUOTE) break;
        i += v === BACKSLASH ? 2 : 1;
      }
      i++;
    }
  }
  return i;
}

/** Decode structured data as written on the wire (`[a x="1"][b y="\]"]`); [] for `-` or malformed text. */
export function parseStructuredData(sd: string): StructuredDataElement[] {
  const out: StructuredDataElement[] = [];
  if (scanStructuredData(sd, 0) !== sd.length) return out;
  let i = 0;
  const n = sd.length;
  while (i < n) {
    i++; // [
    const idStart = i;
    while (isNameChar(sd.charCodeAt(i))) i++;
    const el: StructuredDataElement = { id: sd.slice(idStart, i), params: [] };
    while (sd.charCodeAt(i) === SP) {
      i++;
      const nameStart = i;
      while (isNameChar(sd.charCodeAt(i))) i++;
      const name = sd.slice(nameStart, i);
      i += 2; // ="
      let value = '';
      let runStart = i;
      for (;;) {
        const c = sd.charCodeAt(i);
        if (c === QUOTE) break;
        if (c === BACKSLASH) {
          const next = sd.charCodeAt(i + 1);
          if (next === QUOTE || next === CLOSE || next === BACKSLASH) {
            value += sd.slice(runStart, i);
            runStart = i + 1; // keep the escaped character, drop the backslash
          }
          i += 2;
        } else {
          i++;
        }
      }
      value += sd.slice(runStart, i);
      i++; // closing quote
      el.params.push([name, value]);
    }
    i++; // ]
    out.push(el);
  }
  return out;
}
