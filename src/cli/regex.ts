import { statSync } from 'node:fs';
import { CliError, EXIT_NOT_SO, EXIT_OK } from './exit-codes.js';
import { type Filter, type FilterResult, loadFilter, type RegexCounters } from '../filters/filter.js';
import { type ScanCounts, scanLogFile, scanText } from '../filters/log-scan.js';
import { scrubPasswords } from '../filters/password-scrub.js';
import { type HitList, HitTable } from './hit-table.js';
import { scanSplit, threadsFor } from './regex-split.js';

export interface RegexOptions {
  confDir: string;
  log: string;
  filter: string;
  json: boolean;
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
  const threads = source.kind === 'file' ? threadsFor(statSync(source.path).size, filter) : 1;
  if (source.kind === 'file' && threads > 1) {
    // A large file on every core (regex-split.ts); the output is the same as on one.
    const started = process.hrtime.bigint();
    const r = await scanSplit(filter, { confDir: o.confDir, filter: o.filter, path: source.path, now: Date.now(), keepMissed: o.json ? 0 : SHOW + 1, keepHits: SHOW, json: o.json }, threads);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    report(o, source, filter, { ...r.counts, threads: r.threads }, r.counters, r.hits, r.missed, seconds);
    return r.counts.matched > 0 ? EXIT_OK : EXIT_NOT_SO;
  }
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

  report(o, source, filter, counts, counters, hits, missedLines, seconds);
  return counts.matched > 0 ? EXIT_OK : EXIT_NOT_SO;
}

function report(
  o: RegexOptions,
  source: LogSource,
  filter: Filter,
  counts: ReportCounts,
  counters: RegexCounters,
  hits: HitList,
  missedLines: Array<[number, string]>,
  seconds: number,
): void {
  if (o.json) {
    writeJson(filter, counts, counters, hits, seconds);
  } else {
    process.stdout.write(humanReport(o, source, filter, counts, counters, hits, missedLines, seconds));
  }
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
 * The `--json` object: the keys docs/ARCHITECTURE.md names (lines, matched, ignored,
 * missed, regexes, hits) plus ignoreregexes, the counted oddities of the
 * input and the processing time. Written in pieces, hits in batches.
 */
/** The counts, and how many threads scanned the file. */
type ReportCounts = ScanCounts & { threads?: number };

function writeJson(filter: Filter, c: ReportCounts, k: RegexCounters, hits: HitList, seconds: number): void {
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
    threads: c.threads ?? 1,
  };
  const out = process.stdout;
  out.write(JSON.stringify(head).slice(0, -1) + ',"hits":[');
  let first = true;
  for (const chunk of hits.jsonChunks()) {
    if (chunk === '') continue;
    out.write((first ? '' : ',') + chunk);
    first = false;
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
  hits: HitList,
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
