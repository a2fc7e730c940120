/**
 * One log record as it entered fleetban, whatever way it came: a syslog
 * datagram or frame, a journal entry, or a line of a file given to
 * `fleetban regex`. Every source produces this shape; the filter engine reads
 * only this shape.
 */
export interface LogEvent {
  /** Time the record states, ms since the epoch; NaN when it states none. */
  time: number;
  /** Time fleetban received it, ms since the epoch. */
  received: number;
  /** What produced it: "udp", "tcp", "tls", "journal" or "file". */
  source: string;
  /** Network peer that delivered it (canonical IP); absent for journal and file. */
  sender?: string;
  /** Host that wrote it, as it says itself: syslog HOSTNAME or journal _HOSTNAME. */
  hostname?: string;
  /**
   * The mail server it is about: the fleet host (fleet.conf section name) whose
   * address sent it or whose name it carries, else the hostname, else the sender.
   * Jails with `scope = origin` ban on this host only.
   */
  origin: string;
  /** Syslog TAG / APP-NAME, or journal SYSLOG_IDENTIFIER (else _COMM). */
  app?: string;
  /** Syslog PROCID / TAG[pid], or journal _PID. */
  pid?: string;
  /** Syslog facility and severity, when the record carried a PRI. */
  facility?: number;
  severity?: number;
  /** The message text, without header. */
  message: string;
  /** The record as received (decoded as UTF-8, invalid bytes replaced), for logs and the regex tester. */
  raw: string;
}
