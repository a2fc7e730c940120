/**
 * One syslog message, its header taken apart. The parser fills every field
 * it finds and leaves the others undefined; it never fails: text it cannot
 * read as a header stays in `message`, so a filter still sees it.
 */
export interface SyslogMessage {
  /** Which header shape was read: RFC 5424 (`<PRI>1 ...`) or anything else (RFC 3164 and looser). */
  format: 'rfc5424' | 'rfc3164';
  /** From PRI; undefined when the message has no valid PRI. */
  facility: number | undefined;
  severity: number | undefined;
  /** ms since the epoch; NaN when the message states no time. */
  time: number;
  hostname: string | undefined;
  /** RFC 5424 APP-NAME or RFC 3164 TAG (`vpopmail` of `vpopmail[20410]:`). */
  app: string | undefined;
  /** RFC 5424 PROCID or the PID of an RFC 3164 `TAG[PID]:`. */
  pid: string | undefined;
  /** RFC 5424 MSGID. */
  msgid: string | undefined;
  /** RFC 5424 STRUCTURED-DATA as written, undefined for `-`; decode with parseStructuredData. */
  structuredData: string | undefined;
  /** The text after the header, without BOM and leading spaces. */
  message: string;
}
