import type { LogEvent } from '../model/log-event.js';

/**
 * How an event is presented to a filter: the decision that lets one filter
 * find the same failures whatever way the event arrived.
 *
 * A line of a log file is matched as fail2ban matches it: its date is found
 * with the filter's datepattern, cut out, and the rest of the line is what
 * the regexes see, e.g. ` mx1 imapd: LOGIN FAILED, ...` (a leading space
 * where the date was). fleetban does exactly this in `Filter.matchLine`.
 *
 * An event that arrived as a message (RFC 3164 or RFC 5424 syslog, or a
 * journal entry) has its time, host, program and pid in fields already. It
 * is presented the way fail2ban's systemd backend presents a journal entry
 * (filtersystemd.py formatJournalEntry):
 *
 *     HOSTNAME APP[PID]: MESSAGE
 *
 * with parts that are absent left out (`HOSTNAME APP: MESSAGE`, or just
 * `MESSAGE`), newlines inside the message written as `\n`, and the time
 * taken from the event, never from the text. No date is searched for.
 *
 * Why this form: it is what a syslog file line looks like once the date is
 * cut out, so common.conf's `__prefix_line` for `logtype = file` (the
 * default) matches it, and so do `logtype = short` and `journal`, which
 * fail2ban defines for exactly this form. Only `logtype = rfc5424` expects
 * the raw RFC 5424 header (`HOST APP PROCID MSGID SD`); for events such a
 * filter is resolved a second time with `logtype = short` (see Filter), so
 * pointing a filter at RFC 5424 files and at RFC 5424 senders both work.
 * The RFC 5424 header is never shown to the regexes: its MSGID and
 * structured data are not part of what fail2ban's filters expect there.
 */
export function presentEvent(ev: LogEvent): string {
  const host = ev.hostname || ev.origin || '';
  let text = host;
  if (ev.app) {
    let tag = ev.app;
    if (ev.pid) tag += `[${ev.pid}]`;
    tag += ':';
    text = text ? `${text} ${tag}` : tag;
  }
  let msg = ev.message;
  if (msg.indexOf('\n') !== -1) msg = msg.replace(/\n/g, '\\n');
  return text ? `${text} ${msg}` : msg;
}
