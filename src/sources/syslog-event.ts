import type { LogEvent } from '../model/log-event.js';
import { parseSyslog, trimFrameEnd } from '../syslog/syslog-parser.js';
import type { Peer } from './peer.js';
import type { Counters } from './source-stats.js';

/**
 * One datagram or frame from `peer` as a LogEvent, or null when it is empty
 * (counted as a parse drop). Decoding replaces invalid UTF-8 with U+FFFD and
 * keeps every other byte: attackers write these lines, the parser must take
 * anything.
 */
export function toLogEvent(
  source: 'udp' | 'tcp' | 'tls',
  counters: Counters,
  peer: Peer,
  buf: Buffer,
  start: number,
  end: number,
  received: number,
): LogEvent | null {
  end = trimFrameEnd(buf, start, end);
  if (end === start) {
    counters.dropped.parse++;
    peer.counters.dropped.parse++;
    return null;
  }
  const raw = buf.toString('utf8', start, end);
  const opts = peer.parseOptions;
  opts.now = received;
  const m = parseSyslog(raw, opts);
  return {
    time: m.time,
    received,
    source,
    sender: peer.ip,
    hostname: m.hostname,
    origin: peer.originOf(m.hostname),
    app: m.app,
    pid: m.pid,
    facility: m.facility,
    severity: m.severity,
    message: m.message,
    raw,
  };
}
