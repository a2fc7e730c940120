import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFilter } from '../../src/filters/filter.js';
import { scanLogFile } from '../../src/filters/log-scan.js';
import type { LogEvent } from '../../src/model/log-event.js';
import { canonicalIp } from '../../src/net/address.js';
import { missing } from '../helpers/requirements.js';

/**
 * Every stock fail2ban filter against fail2ban's own annotated test logs,
 * through fleetban's Filter (the code `fleetban regex` runs) and through
 * fail2ban-regex 1.0.2, line by line.
 *
 * The logs and filters are fail2ban's (GPL): they are read from the
 * installed Debian package at test time, never copied here. A log is
 * paired with its filter and read as fail2ban's tests/samplestestcase.py
 * reads it: `# failJSON: {...}` describes the next line, `# filterOptions:`
 * starts lines tested with each of several option sets (each set keeps its
 * own filter, with its multi-line state, from block to block),
 * `# fileOptions:` and `# addFILE:` as there, and a line's `constraint` or
 * a block's `test.condition` leaves it out of the option sets it does not
 * hold for. Each option set's lines go to one file, matched once by each
 * side: fleetban's scanLogFile (journal option sets: as journal events
 * through matchEvents), and fail2ban-regex's own Fail2banRegex fed the same
 * lines one at a time (fail2ban-regex-lines.py), so each failure is
 * attributed to its line. Both run on fail2ban's test clock (year-less
 * dates resolve as in its tests) in its test time zone.
 *
 * The test fails when fleetban and fail2ban-regex disagree on a line (does
 * it fail, with which address, at what time), except where the address is a
 * host name (fleetban never resolves names: counted apart) and the short
 * list of known disagreements below, each of which must still disagree.
 * Agreement of each side with the annotations themselves is reported in
 * the table (test-artifacts/parity/annotated-logs.md), not asserted.
 */

const LOGS = '/usr/lib/python3/dist-packages/fail2ban/tests/files/logs';
const CONF = '/etc/fail2ban';
/** fail2ban's test clock (tests/utils.py TEST_NOW): Sun Aug 14 12:00:00 CEST 2005. */
const TEST_NOW = 1124013600;
/** fail2ban's tests run in CET/CEST; the annotations' times are local times there. */
const TZ = 'Europe/Zurich';
const ROOT = new URL('../..', import.meta.url).pathname;
const DRIVER = join(ROOT, 'test', 'parity', 'fail2ban-regex-lines.py');
const ARTIFACTS = join(ROOT, 'test-artifacts', 'parity');

process.env.TZ = TZ;

/**
 * Lines where fleetban and fail2ban-regex are known to disagree, and why:
 * `filter|option set|line text start`. Each must still disagree (fixing
 * one means removing it here).
 */
const KNOWN: ReadonlyArray<{ key: string; why: string }> = [];

interface FailJson {
  match?: boolean;
  host?: string;
  time?: string;
  constraint?: string;
  [k: string]: unknown;
}

interface Sample {
  text: string;
  want: FailJson;
  /** file:line in fail2ban's logs folder. */
  where: string;
}

interface Job {
  id: number;
  filter: string;
  /** The option set's name as samplestestcase.py makes it (filter name + options). */
  label: string;
  opts: Record<string, string>;
  journal: boolean;
  samples: Sample[];
  log?: string;
}

/** One side's verdict on a line: no failure, or the failure's id and time (ms; NaN: none). */
type Verdict = null | { id: string; time: number };

/** Python's str() of a small dict of strings, as samplestestcase.py names an option set. */
function pyDict(o: Record<string, unknown>): string {
  return `{${Object.entries(o)
    .map(([k, v]) => `'${k}': '${String(v)}'`)
    .join(', ')}}`;
}

/** The few Python expressions the logs' conditions use: `name == '...'`, `opts.get('k') ==|!= '...'`. */
function holds(expr: string, name: string, opts: Record<string, unknown>): boolean {
  const n = /^\s*name\s*==\s*'([^']*)'\s*$/.exec(expr);
  if (n) return name === n[1];
  const o = /^\s*opts\.get\('([^']+)'\)\s*(==|!=)\s*'([^']*)'\s*$/.exec(expr);
  if (o) return (opts[o[1]!] === o[3]) === (o[2] === '==');
  throw new Error(`condition the test cannot read: ${expr}`);
}

/** The option sets of one filter and the lines each tests, as samplestestcase.py builds them. */
function readAnnotated(name: string, nextId: () => number): Job[] {
  const files = [name];
  const jobs = new Map<string, Job>();
  let common: Record<string, unknown> = {};
  let tests: Array<{ job: Job; opts: Record<string, unknown> }> | null = null;
  const jobFor = (label: string, opts: Record<string, unknown>): Job => {
    let j = jobs.get(label);
    if (!j) {
      const fltOpts: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts)) if (!k.startsWith('test.')) fltOpts[k] = String(v);
      j = { id: nextId(), filter: name, label, opts: fltOpts, journal: opts.logtype === 'journal', samples: [] };
      jobs.set(label, j);
    }
    return j;
  };
  for (let f = 0; f < files.length; f++) {
    const file = files[f]!;
    const lines = readFileSync(join(LOGS, file), 'utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    let ignoreBlock = false;
    let want: FailJson = {};
    for (let k = 0; k < lines.length; k++) {
      let line = lines[k]!;
      let at = k + 1;
      const m = /^#+ ?(failJSON|(?:file|filter)Options|addFILE):(.+)$/.exec(line);
      if (m) {
        const data = JSON.parse(m[2]!) as unknown;
        if (m[1] === 'fileOptions') {
          common = data as Record<string, unknown>;
          continue;
        }
        if (m[1] === 'filterOptions') {
          tests = [];
          ignoreBlock = false;
          for (const d of Array.isArray(data) ? data : [data]) {
            const opts = { ...common, ...(d as Record<string, unknown>) };
            if (opts['test.condition']) ignoreBlock = !holds(String(opts['test.condition']), name, opts);
            if (ignoreBlock) continue;
            const fltOpts = Object.fromEntries(Object.entries(opts).filter(([key]) => !key.startsWith('test.')));
            const label = name + (String(opts['test.filter-name'] ?? '') || (Object.keys(fltOpts).length ? pyDict(fltOpts) : ''));
            tests.push({ job: jobFor(label, opts), opts });
          }
          continue;
        }
        if (m[1] === 'addFILE') {
          files.push(String(data));
          continue;
        }
        want = data as FailJson;
        k++;
        at = k + 1;
        if (k >= lines.length) break;
        line = lines[k]!;
      } else if (ignoreBlock || line.startsWith('#') || line.trim() === '') {
        continue;
      } else {
        want = {};
      }
      if (ignoreBlock) continue;
      tests ??= [{ job: jobFor(name, {}), opts: {} }];
      line = line.replace(/[\r\n]+$/, '');
      for (const t of tests) {
        if (want.constraint && !holds(want.constraint, name, t.opts)) continue;
        const prefix = t.job.journal && t.opts['test.prefix-line'] ? String(t.opts['test.prefix-line']) : '';
        t.job.samples.push({ text: prefix + line, want, where: `${file}:${at}` });
      }
    }
  }
  return [...jobs.values()];
}

/** fail2ban-regex's FILTER argument for a job: `name[key="value", ...]`. */
function f2bFilterArg(job: Job): string {
  const o = Object.entries(job.opts);
  return o.length ? `${job.filter}[${o.map(([k, v]) => `${k}="${v}"`).join(', ')}]` : job.filter;
}

/** An id as both sides would print it: a canonical address, or the text (a host name, another id). */
function idOf(text: string): string {
  return canonicalIp(text) ?? text;
}

function isAddress(text: string | undefined): boolean {
  return text !== undefined && canonicalIp(text) !== null;
}

/** An annotation's local time (fail2ban's test zone) in ms. */
function annotatedTime(t: string): number {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?$/.exec(t);
  if (!m) return NaN;
  const ms = m[7] ? Math.round(Number(`0.${m[7]}`) * 1000) : 0;
  return new Date(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, ms).getTime();
}

function sameTime(a: number, b: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  return Math.abs(a - b) < 1;
}

function sameVerdict(a: Verdict, b: Verdict): boolean {
  if (a === null || b === null) return a === b;
  return a.id === b.id && sameTime(a.time, b.time);
}

/** Does a verdict say what the annotation says (match, host, time where given)? */
function meetsAnnotation(v: Verdict, want: FailJson): boolean {
  if (!want.match) return v === null;
  if (v === null) return false;
  if (want.host !== undefined && idOf(want.host) !== v.id) return false;
  if (want.time !== undefined && !sameTime(annotatedTime(want.time), v.time)) return false;
  return true;
}

interface Row {
  filter: string;
  total: number;
  fleetbanAgrees: number;
  fail2banAgrees: number;
  sidesAgree: number;
  hostNames: number;
  refused?: string;
}

interface Disagreement {
  key: string;
  where: string;
  fleetban: Verdict;
  fail2ban: Verdict;
  want: FailJson;
}

describe.skipIf(missing('annotated-log parity with fail2ban-regex', { commands: ['fail2ban-regex', 'python3', LOGS, CONF] }))(
  'fail2ban annotated test logs: fleetban and fail2ban-regex line by line',
  () => {
    let dir: string;
    const jobs: Job[] = [];
    const rows: Row[] = [];
    const disagreements: Disagreement[] = [];

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'fleetban-annotated-'));
      let id = 0;
      const names = readdirSync(join(CONF, 'filter.d'))
        .filter((f) => f.endsWith('.conf') && f !== 'common.conf')
        .map((f) => f.slice(0, -5))
        .filter((n) => existsSync(join(LOGS, n)))
        .sort();
      for (const n of names) jobs.push(...readAnnotated(n, () => id++));
      for (const j of jobs) {
        j.log = join(dir, `job-${j.id}.log`);
        writeFileSync(j.log, j.samples.map((s) => `${s.text}\n`).join(''));
      }

      // fail2ban-regex: two processes (two cores), each a share of the jobs.
      const shares = [0, 1].map((k) => jobs.filter((j) => j.id % 2 === k));
      const f2b = new Map<number, { error?: string; lines?: Array<null | [string, number | null, string]> }>();
      const runs = shares.map(async (share, k) => {
        const spec = join(dir, `jobs-${k}.json`);
        writeFileSync(
          spec,
          JSON.stringify(share.map((j) => ({ id: j.id, log: j.log, filter: f2bFilterArg(j), now: TEST_NOW, journal: j.journal, conf: CONF }))),
        );
        const r = await execa(fail2banPython(), [DRIVER, spec], { env: { TZ }, reject: false });
        if (r.exitCode !== 0) throw new Error(`fail2ban-regex driver failed: ${r.stderr}`);
        for (const l of r.stdout.split('\n').filter(Boolean)) {
          const o = JSON.parse(l) as { id: number; error?: string; lines?: Array<null | [string, number | null, string]> };
          f2b.set(o.id, o);
        }
      });

      // fleetban: the Filter and file scanner `fleetban regex` runs, in this process meanwhile.
      const ours = new Map<number, { error?: string; verdicts?: Verdict[] }>();
      for (const j of jobs) {
        try {
          const filter = loadFilter(CONF, j.filter, j.opts);
          const verdicts: Verdict[] = j.samples.map(() => null);
          if (j.journal) {
            // Journal entries, as the journal follower hands them over: the time is the entry's
            // (the test clock, as fail2ban's test gives it), the text is the message.
            const t = TEST_NOW * 1000;
            const events: LogEvent[] = j.samples.map((s) => ({ time: t, received: t, source: 'journal', origin: '', message: s.text, raw: s.text }));
            filter.matchEvents(events).forEach((r, i) => {
              if (r.kind === 'failure') verdicts[i] = { id: r.match.ip, time: r.match.time };
            });
          } else {
            scanLogFile(
              j.log!,
              filter,
              (no, _line, r) => {
                if (r.kind === 'failure') verdicts[no - 1] = { id: r.match.ip, time: r.match.time };
              },
              { now: TEST_NOW * 1000 },
            );
          }
          ours.set(j.id, { verdicts });
        } catch (err) {
          ours.set(j.id, { error: (err as Error).message });
        }
      }
      await Promise.all(runs);

      const byFilter = new Map<string, Row>();
      for (const j of jobs) {
        const row = byFilter.get(j.filter) ?? { filter: j.filter, total: 0, fleetbanAgrees: 0, fail2banAgrees: 0, sidesAgree: 0, hostNames: 0 };
        byFilter.set(j.filter, row);
        const mine = ours.get(j.id)!;
        const theirs = f2b.get(j.id) ?? { error: 'no answer from the driver' };
        if (mine.error) row.refused = mine.error;
        j.samples.forEach((s, i) => {
          row.total++;
          const fv: Verdict = mine.verdicts?.[i] ?? null;
          const raw = theirs.lines?.[i] ?? null;
          const tv: Verdict = raw === null ? null : { id: idOf(raw[0]), time: raw[1] === null ? NaN : Math.round(raw[1] * 1000) };
          if (meetsAnnotation(fv, s.want)) row.fleetbanAgrees++;
          if (!theirs.error && meetsAnnotation(tv, s.want)) row.fail2banAgrees++;
          // A host name (or another id that is no address) is never resolved by fleetban: counted apart.
          const named = (raw !== null && !isAddress(raw[0])) || (s.want.host !== undefined && !isAddress(s.want.host));
          if (named) {
            row.hostNames++;
            return;
          }
          if (!mine.error && !theirs.error && sameVerdict(fv, tv)) {
            row.sidesAgree++;
            return;
          }
          disagreements.push({ key: `${j.filter}|${j.label}|${s.text.slice(0, 60)}`, where: s.where, fleetban: fv, fail2ban: tv, want: s.want });
        });
      }
      rows.push(...[...byFilter.values()].sort((a, b) => a.filter.localeCompare(b.filter)));
      writeReport(rows, disagreements);
    }, 300_000);

    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('pairs fail2ban test logs with stock filters and reads their annotations', () => {
      expect(rows.length).toBeGreaterThan(70);
      expect(rows.find((r) => r.filter === 'sshd')?.total).toBeGreaterThan(500);
    });

    it('agrees with fail2ban-regex on every line, except the known disagreements', () => {
      const known = new Set(KNOWN.map((k) => k.key));
      const unexpected = disagreements.filter((d) => !known.has(d.key));
      expect(unexpected.map((d) => `${d.key} (${d.where}): fleetban ${show(d.fleetban)}, fail2ban-regex ${show(d.fail2ban)}`)).toEqual([]);
    });

    it('still disagrees where the list says so (a fixed one must leave the list)', () => {
      const seen = new Set(disagreements.map((d) => d.key));
      expect(KNOWN.filter((k) => !seen.has(k.key)).map((k) => k.key)).toEqual([]);
    });

    it('loads every stock filter that has a test log', () => {
      expect(rows.filter((r) => r.refused).map((r) => `${r.filter}: ${r.refused}`)).toEqual([]);
    });
  },
);

/** The Python that runs fail2ban-regex (its #! line): the one the fail2ban package is installed for. */
function fail2banPython(): string {
  const path = execaSyncPath('fail2ban-regex');
  const first = readFileSync(path, 'utf8').split('\n', 1)[0]!;
  return first.startsWith('#!') ? first.slice(2).trim().split(/\s+/)[0]! : 'python3';
}

function execaSyncPath(cmd: string): string {
  for (const d of (process.env.PATH ?? '').split(':')) if (d && existsSync(join(d, cmd))) return join(d, cmd);
  throw new Error(`${cmd} not found in PATH`);
}

function show(v: Verdict): string {
  return v === null ? 'no failure' : `${v.id} at ${Number.isNaN(v.time) ? 'no time' : new Date(v.time).toISOString()}`;
}

/** The table filter by filter, as Markdown and JSON, for the administrator and the issue. */
function writeReport(rows: Row[], disagreements: Disagreement[]): void {
  mkdirSync(ARTIFACTS, { recursive: true });
  const sum = (k: 'total' | 'fleetbanAgrees' | 'fail2banAgrees' | 'sidesAgree' | 'hostNames') => rows.reduce((a, r) => a + r[k], 0);
  const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(1)}%` : '-');
  const out = [
    '# fail2ban annotated test logs: fleetban and fail2ban-regex',
    '',
    'Per filter: evaluations (a line under one option set), those where each side says what the',
    "annotation says, those where the two sides agree with each other, and host-name lines (fleetban",
    'never resolves names; not compared).',
    '',
    '| filter | evaluations | fleetban = annotation | fail2ban-regex = annotation | fleetban = fail2ban-regex | host names | refused |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.filter} | ${r.total} | ${r.fleetbanAgrees} | ${r.fail2banAgrees} | ${r.sidesAgree} | ${r.hostNames} | ${r.refused ? r.refused.replace(/\|/g, '\\|').slice(0, 200) : ''} |`,
    ),
    `| **all** | ${sum('total')} | ${sum('fleetbanAgrees')} (${pct(sum('fleetbanAgrees'), sum('total'))}) | ${sum('fail2banAgrees')} (${pct(sum('fail2banAgrees'), sum('total'))}) | ${sum('sidesAgree')} (${pct(sum('sidesAgree'), sum('total') - sum('hostNames'))} of compared) | ${sum('hostNames')} | ${rows.filter((r) => r.refused).length} |`,
    '',
    `## Disagreements (${disagreements.length})`,
    '',
    ...disagreements.map((d) => `- ${d.key} (${d.where}): fleetban ${show(d.fleetban)}; fail2ban-regex ${show(d.fail2ban)}; annotation ${JSON.stringify(d.want)}`),
    '',
  ];
  writeFileSync(join(ARTIFACTS, 'annotated-logs.md'), out.join('\n'));
  writeFileSync(join(ARTIFACTS, 'annotated-logs.json'), JSON.stringify({ rows, disagreements }, null, 1));
}
