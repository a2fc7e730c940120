/**
 * The CPU cost of one message, without sockets: the RFC 6587 frame decoder
 * and the parser on a buffer of octet-counted frames, then the same events
 * through the shipped vpopmail and Courier filters. Shows how the time of
 * the TCP benchmark splits between fleetban's syslog code and the filters.
 *
 *   npx tsx bench/syslog-parse.ts [--messages 1000000] [--rounds 3]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadFilter } from '../src/filters/filter.js';
import type { LogEvent } from '../src/model/log-event.js';
import { FrameDecoder } from '../src/syslog/frame-decoder.js';
import { parseSyslog, trimFrameEnd } from '../src/syslog/syslog-parser.js';
import { Timezone } from '../src/syslog/timezone.js';
import { syslogLine } from './syslog-lines.js';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '3' } } });
const n = Number(values.messages);

const parts: string[] = [];
for (let i = 0; i < n; i++) {
  const line = syslogLine(i);
  parts.push(`${Buffer.byteLength(line)} ${line}`);
}
const wire = Buffer.from(parts.join(''));
const chunks: Buffer[] = [];
for (let i = 0; i < wire.length; i += 64 * 1024) chunks.push(wire.subarray(i, i + 64 * 1024));

const filters = ['vpopmail', 'courier-auth', 'courier-smtp'].map((f) => loadFilter(join(import.meta.dirname, '..', 'conf'), f));

function decodeAndParse(keep: LogEvent[] | null): number {
  const opts = { now: Date.now(), zone: Timezone.local };
  let count = 0;
  const d = new FrameDecoder(
    { maxFrame: 64 * 1024, maxLengthDigits: 10 },
    {
      frame(buf, start, end) {
        const raw = buf.toString('utf8', start, trimFrameEnd(buf, start, end));
        const m = parseSyslog(raw, opts);
        const ev: LogEvent = {
          time: m.time,
          received: opts.now,
          source: 'tcp',
          sender: '127.0.0.1',
          hostname: m.hostname,
          origin: m.hostname ?? '127.0.0.1',
          app: m.app,
          pid: m.pid,
          facility: m.facility,
          severity: m.severity,
          message: m.message,
          raw,
        };
        count++;
        keep?.push(ev);
      },
      drop() {},
    },
  );
  for (const c of chunks) d.push(c);
  d.end();
  return count;
}

const rate = (count: number, ns: bigint) => Math.round(count / (Number(ns) / 1e9)).toLocaleString('en');

for (let round = 1; round <= Number(values.rounds); round++) {
  let t = process.hrtime.bigint();
  const parsed = decodeAndParse(null);
  const parseNs = process.hrtime.bigint() - t;

  const events: LogEvent[] = [];
  decodeAndParse(events);
  t = process.hrtime.bigint();
  let failures = 0;
  for (const ev of events) for (const f of filters) if (f.matchEvent(ev).kind === 'failure') failures++;
  const matchNs = process.hrtime.bigint() - t;

  console.log(
    `round ${round}: decode + parse ${rate(parsed, parseNs)} msg/s; shipped filters (3 per event) ${rate(events.length, matchNs)} msg/s, ${failures.toLocaleString('en')} failures; both ${rate(parsed, parseNs + matchNs)} msg/s`,
  );
}
