import type { LogEvent } from '../../model/log-event.js';

/**
 * One line of `journalctl -o json`, turned into the LogEvents it carries.
 *
 * journalctl writes a field as a JSON string when its value is printable
 * UTF-8 (tab and newline included). Otherwise it writes what the value
 * really is:
 * - a value with other control bytes or invalid UTF-8 comes as an array of
 *   byte numbers, e.g. `"MESSAGE":[98,97,100,255]`;
 * - a field present several times in one entry comes as an array of values,
 *   each a string or a byte array, e.g. `"MESSAGE":["a",[1,2]]`;
 * - without `--all`, a value over 4096 bytes comes as null (the follower
 *   passes `--all`, but null is still taken).
 * A mail server's log entry is written by whoever sent the mail or logged
 * in, so none of these may crash the parser, and an array must never reach
 * a regex as the text JavaScript makes of it ("98,97,100,255" is not what
 * the process logged).
 *
 * What MESSAGE becomes:
 * - a string: itself. A newline stays a newline; the filter engine shows it
 *   to the regexes as `\n`, as fail2ban's systemd backend does.
 * - a byte array: the bytes decoded as UTF-8, each invalid sequence replaced
 *   by U+FFFD, and every control byte other than tab and newline written as
 *   `#` and three octal digits, rsyslog's escape (CR is `#015`). That is the
 *   text the same message carries when the mail server's rsyslog forwards it,
 *   so one filter matches both, and no control byte reaches a regex (in
 *   JavaScript `.` stops at CR, in the terminal it moves the cursor).
 * - repeated: one event per value, in order. Each value is a message the
 *   process logged; joining them (fail2ban joins with a space) would show
 *   the regexes a text nobody logged, and a `, ip=[...]` from one value
 *   could complete a line begun in another.
 * - absent or null: the entry is skipped and counted; there is nothing to
 *   match.
 * Other fields (_HOSTNAME, SYSLOG_IDENTIFIER, _COMM, _PID, SYSLOG_PID) use
 * the same decoding, and their first value when repeated.
 */

/** A field's value as journalctl prints it. */
export type JournalValue = string | number[] | (string | number[])[] | null;

/** A parsed line of `journalctl -o json`. */
export type JournalEntry = Record<string, unknown>;

/** The fields fleetban reads; journalctl is asked for these only (`--output-fields`). */
export const JOURNAL_FIELDS = ['MESSAGE', '_HOSTNAME', 'SYSLOG_IDENTIFIER', '_COMM', '_PID', 'SYSLOG_PID'] as const;

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Control bytes that are not tab or newline, and DEL. */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g;

function escapeControl(s: string): string {
  CONTROL.lastIndex = 0;
  if (!CONTROL.test(s)) return s;
  return s.replace(CONTROL, (c) => '#' + c.charCodeAt(0).toString(8).padStart(3, '0'));
}

/** True for an array of byte numbers (what journalctl prints for a binary value). */
function isByteArray(v: unknown[]): v is number[] {
  // journalctl prints an empty value as "", so an empty array holds no value at all (see fieldValues).
  for (let i = 0; i < v.length; i++) {
    const b = v[i];
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 255) return false;
  }
  return true;
}

/** One value (not repeated) as text, or undefined when it is neither a string nor a byte array. */
function valueText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && isByteArray(v)) return escapeControl(utf8.decode(Uint8Array.from(v)));
  return undefined;
}

/**
 * Every value of a field as text, in order: [] when absent or null.
 * A byte array is one value; an array of strings and byte arrays is a
 * repeated field.
 */
export function fieldValues(entry: JournalEntry, name: string): string[] {
  const v = entry[name];
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v)) {
    const t = valueText(v);
    return t === undefined ? [] : [t];
  }
  if (v.length > 0 && isByteArray(v)) return [valueText(v)!];
  const out: string[] = [];
  for (const item of v) {
    const t = valueText(item);
    if (t !== undefined) out.push(t);
  }
  return out;
}

/** The first value of a field as text (a string value is returned as is, with no copy). */
export function fieldText(entry: JournalEntry, name: string): string | undefined {
  const v = entry[name];
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return undefined;
  return fieldValues(entry, name)[0];
}

/** `__REALTIME_TIMESTAMP` (µs since the epoch, as a decimal string) in ms; NaN when absent or malformed. */
export function realtimeMs(entry: JournalEntry): number {
  const v = entry.__REALTIME_TIMESTAMP;
  if (typeof v !== 'string' || !/^\d{1,20}$/.test(v)) return NaN;
  // 16 digits of µs fit a double exactly until the year 2255; ms are what LogEvent keeps.
  return Math.floor(Number(v) / 1000);
}

/**
 * How an event reads in logs and in the regex tester: the line fail2ban's
 * systemd backend builds for the entry, `HOSTNAME APP[PID]: MESSAGE`, with
 * absent parts left out.
 */
export function renderRaw(hostname: string | undefined, app: string | undefined, pid: string | undefined, message: string): string {
  let head = hostname ?? '';
  if (app) {
    const tag = pid ? `${app}[${pid}]:` : `${app}:`;
    head = head ? `${head} ${tag}` : tag;
  }
  return head ? `${head} ${message}` : message;
}

/**
 * The LogEvents of one parsed journal entry: one per MESSAGE value, none
 * when it has no MESSAGE. `originOf` maps `_HOSTNAME` to a fleet host.
 */
export function entryEvents(
  entry: JournalEntry,
  received: number,
  originOf: (hostname: string | undefined) => string,
): LogEvent[] {
  const messages = fieldValues(entry, 'MESSAGE');
  if (messages.length === 0) return [];
  const hostname = fieldText(entry, '_HOSTNAME');
  const app = fieldText(entry, 'SYSLOG_IDENTIFIER') || fieldText(entry, '_COMM') || undefined;
  // _PID is set by journald from the socket's credentials; SYSLOG_PID is what the tag claimed.
  const pid = fieldText(entry, '_PID') || fieldText(entry, 'SYSLOG_PID') || undefined;
  const time = realtimeMs(entry);
  const origin = originOf(hostname);
  const out: LogEvent[] = [];
  for (const message of messages) {
    out.push({
      time,
      received,
      source: 'journal',
      hostname,
      origin,
      app,
      pid,
      message,
      raw: renderRaw(hostname, app, pid, message),
    });
  }
  return out;
}

/** The entry's `__CURSOR`, when it is a string. */
export function entryCursor(entry: JournalEntry): string | undefined {
  const c = entry.__CURSOR;
  return typeof c === 'string' && c.length > 0 ? c : undefined;
}
