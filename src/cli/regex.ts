import { statSync } from 'node:fs';
import { CliError, EXIT_NOT_SO, EXIT_OK } from './exit-codes.js';
import { type Filter, type FilterResult, loadFilter, type RegexCounters } from '../filters/filter.js';
import { type ScanCounts, scanLogFile, scanText } from '../filters/log-scan.js';
import { scrubPasswords } from '../filters/password-scrub.js';

export interface RegexOptions {
  confDir: string;
  log: string;
  filter: string;
  json: boolean;
}

/** One failure as `--json` prints it. */
interface JsonHit {
  line: number;
  ip: string;
  time: string | null;
  fields: Record<string, string>;
}

/** How many missed lines and hits the human summary lists before it only counts. */
const SHOW = 20;

/**
 * `fleetban regex LOG-FILE|LINE FILTER [--json]`: fail2ban-regex for
 * fleetban. It runs the very Filter the service runs (same reader, same
 * compiled regexes, same pre-check), so what it shows is what the service
 * does with the same lines as file lines.
 *
 * Exit code 0 when at least one line matched, 1 when none did, 2 for a
 * configuration or usage error (message names the file, line and key).
 */
export async function regexCommand(o: RegexOptions): Promise<number> {
  const filter = loadFilter(o.confDir, o.filter);
  const source = logSource(o.log);
  const counters: RegexCounters = {
    failregex: filter.failregex.map(() => 0),
    ignoreregex: filter.ignoreregex.map(() => 0),
    truncated: 0,
    noAddress: 0,
  };
  const hits = new HitTable();
  const missedLines: Array<[number, string]> = [];
  const onResult = (lineNo: number, _line: string, r: FilterResult) => {
    if (r.kind === 'failure') hits.add(lineNo, r.match.ip, r.match.time, r.match.fields);
  };
  const onMissed = o.json
    ? undefined
    : (lineNo: number, line: string) => {
        // One more than shown, to know whether to say "too many to print".
        missedLines.push([lineNo, line]);
        return missedLines.length <= SHOW;
      };
  const started = process.hrtime.bigint();
  const counts =
    source.kind === 'file'
      ? scanLogFile(source.path, filter, onResult, { counters, onMissed })
      : scanText(source.text, filter, onResult, { counters, onMissed });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;

  if (o.json) {
    writeJson(filter, counts, counters, hits, seconds);
  } else {
    process.stdout.write(humanReport(o, source, filter, counts, counters, hits, missedLines, seconds));
  }
  return counts.matched > 0 ? EXIT_OK : EXIT_NOT_SO;
}

type LogSource = { kind: 'file'; path: string } | { kind: 'text'; text: string };

/** A file when one exists at that path; otherwise the argument is the log line itself. */
function logSource(arg: string): LogSource {
  let st;
  try {
    st = statSync(arg);
  } catch {
    st = undefined;
  }
  if (st?.isFile()) return { kind: 'file', path: arg };
  if (st?.isDirectory()) throw new CliError(`regex: ${arg} is a directory, not a log file`);
  if (/^\.{0,2}\/\S*$/.test(arg)) throw new CliError(`regex: no such log file: ${arg}`);
  return { kind: 'text', text: arg };
}

/**
 * The failures found, kept compact until they are printed: a large log has
 * hundreds of thousands, and keeping an object per failure alive makes the
 * garbage collector copy them again and again. Numbers go into growing
 * typed arrays; addresses and field sets, which repeat, are interned.
 */
class HitTable {
  length = 0;
  private lines = new Int32Array(1024);
  private times = new Float64Array(1024);
  private ips = new Int32Array(1024);
  private fields = new Int32Array(1024);
  private readonly ipIds = new Map<string, number>();
  private readonly ipList: string[] = [];
  private readonly fieldIds = new Map<string, number>();
  private readonly fieldList: string[] = [];

  add(line: number, ip: string, time: number, fields: Record<string, string>): void {
    if (this.length === this.lines.length) this.grow();
    const i = this.length++;
    this.lines[i] = line;
    this.times[i] = time;
    this.ips[i] = intern(this.ipIds, this.ipList, ip);
    // Field sets repeat (the same user tried again); key them cheaply, print them once.
    let key = '';
    for (const k in fields) key += k + '\u0001' + fields[k] + '\u0002';
    let id = this.fieldIds.get(key);
    if (id === undefined) {
      id = this.fieldList.length;
      this.fieldList.push(JSON.stringify(fields));
      this.fieldIds.set(key, id);
    }
    this.fields[i] = id;
  }

  get(i: number): JsonHit {
    const t = this.times[i]!;
    return {
      line: this.lines[i]!,
      ip: this.ipList[this.ips[i]!]!,
      time: Number.isFinite(t) ? new Date(t).toISOString() : null,
      fields: JSON.parse(this.fieldList[this.fields[i]!]!) as Record<string, string>,
    };
  }

  /** The JSON text of hits [from, to), comma-separated. */
  json(from: number, to: number): string {
    const parts: string[] = [];
    let lastTime = NaN;
    let lastIso = 'null';
    for (let i = from; i < to; i++) {
      const t = this.times[i]!;
      if (t !== lastTime) {
        lastTime = t;
        lastIso = Number.isFinite(t) ? `"${new Date(t).toISOString()}"` : 'null';
      }
      parts.push(
        `{"line":${this.lines[i]},"ip":"${this.ipList[this.ips[i]!]}","time":${lastIso},"fields":${this.fieldList[this.fields[i]!]}}`,
      );
    }
    return parts.join(',');
  }

  private grow(): void {
    const n = this.lines.length * 2;
    const g = <T extends Int32Array | Float64Array>(a: T, b: T): T => {
      b.set(a);
      return b;
    };
    this.lines = g(this.lines, new Int32Array(n));
    this.times = g(this.times, new Float64Array(n));
    this.ips = g(this.ips, new Int32Array(n));
    this.fields = g(this.fields, new Int32Array(n));
  }
}

function intern(ids: Map<string, number>, list: string[], s: string): number {
  let id = ids.get(s);
  if (id === undefined) {
    id = list.length;
    list.push(s);
    ids.set(s, id);
  }
  return id;
}

/**
 * The `--json` object: the keys DESIGN.md names (lines, matched, ignored,
 * missed, regexes, hits) plus ignoreregexes, the counted oddities of the
 * input and the processing time. Written in pieces, hits in batches.
 */
function writeJson(filter: Filter, c: ScanCounts, k: RegexCounters, hits: HitTable, seconds: number): void {
  const head = {
    lines: c.lines,
    matched: c.matched,
    ignored: c.ignored,
    missed: c.missed,
    regexes: filter.failregex.map((r, i) => ({ regex: r.text, hits: k.failregex[i] })),
  };
  const tail = {
    ignoreregexes: filter.ignoreregex.map((r, i) => ({ regex: r.text, hits: k.ignoreregex[i] })),
    invalidUtf8: c.invalidUtf8,
    nulBytes: c.nulBytes,
    truncated: c.truncated,
    tooSlow: c.tooSlow,
    noAddress: k.noAddress,
    seconds: Math.round(seconds * 1e6) / 1e6,
  };
  const out = process.stdout;
  out.write(JSON.stringify(head).slice(0, -1) + ',"hits":[');
  const BATCH = 8192;
  for (let i = 0; i < hits.length; i += BATCH) {
    out.write((i > 0 ? ',' : '') + hits.json(i, Math.min(hits.length, i + BATCH)));
  }
  out.write('],' + JSON.stringify(tail).slice(1) + '\n');
}

/** Control characters and invalid bytes shown escaped, passwords hidden: lines are attacker-written. */
function printable(line: string): string {
  const s = scrubPasswords(line);
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f\u0080-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function humanReport(
  o: RegexOptions,
  source: LogSource,
  filter: Filter,
  c: ScanCounts,
  k: RegexCounters,
  hits: HitTable,
  missed: Array<[number, string]>,
  seconds: number,
): string {
  const out: string[] = [];
  out.push('Running tests', '=============', '');
  const files = [...new Set(filter.definition.files)];
  out.push(`Use   failregex filter : ${filter.name}${files.length ? ` (${files.join(', ')})` : ''}`);
  if (filter.definition.datepattern) out.push(`Use      datepattern : ${filter.definition.datepattern}`);
  out.push(source.kind === 'file' ? `Use         log file : ${source.path}` : `Use      single line : ${printable(source.text)}`);
  out.push('', 'Results', '=======', '');
  const total = k.failregex.reduce((a, b) => a + b, 0);
  out.push(`Failregex: ${total} total`, '|-  #) [# of hits] regular expression');
  filter.failregex.forEach((r, i) => out.push(`|  ${String(i + 1).padStart(2)}) [${k.failregex[i]}] ${r.text}`));
  out.push('`-', '');
  const itotal = k.ignoreregex.reduce((a, b) => a + b, 0);
  out.push(`Ignoreregex: ${itotal} total`);
  if (filter.ignoreregex.length) {
    out.push('|-  #) [# of hits] regular expression');
    filter.ignoreregex.forEach((r, i) => out.push(`|  ${String(i + 1).padStart(2)}) [${k.ignoreregex[i]}] ${r.text}`));
    out.push('`-');
  }
  out.push('');
  if (hits.length > 0) {
    out.push(hits.length <= SHOW ? 'Failures:' : `Failures (first ${SHOW} of ${hits.length}):`);
    for (let i = 0; i < Math.min(SHOW, hits.length); i++) {
      const h = hits.get(i);
      const f = Object.entries(h.fields)
        .map(([key, v]) => ` ${key}=${JSON.stringify(v)}`)
        .join('');
      out.push(`|  line ${h.line}: ${h.ip}  ${h.time ?? '(no time)'}${printable(f)}`);
    }
    out.push('`-', '');
  }
  out.push(`Lines: ${c.lines} lines, ${c.ignored} ignored, ${c.matched} matched, ${c.missed} missed`);
  const notes: string[] = [];
  if (c.invalidUtf8) notes.push(`${c.invalidUtf8} with bytes that are not UTF-8 (read as U+FFFD)`);
  if (c.nulBytes) notes.push(`${c.nulBytes} with NUL bytes`);
  if (c.truncated) notes.push(`${c.truncated} longer than the limit (matched on their start)`);
  if (k.noAddress) notes.push(`${k.noAddress} matched without a usable address (host name or bad address)`);
  if (c.tooSlow) notes.push(`${c.tooSlow} skipped: a regex took too long on them (crafted to backtrack?)`);
  if (notes.length) out.push(`Of which: ${notes.join('; ')}`);
  out.push(`[processed in ${seconds.toFixed(2)} sec]`, '');
  if (missed.length > 0 && c.missed <= SHOW) {
    out.push('Missed line(s):');
    for (const [n, l] of missed.sort((a, b) => a[0] - b[0])) out.push(`|  ${n}: ${printable(l)}`);
    out.push('`-', '');
  } else if (c.missed > SHOW) {
    out.push(`Missed line(s): ${c.missed}, too many to print.`, '');
  }
  void o;
  return out.join('\n') + '\n';
}
