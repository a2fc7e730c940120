/**
 * The status page under load, against a real `fleetban run`:
 *
 * 1. Serve and render the overview with 100,000 active bans and 14 days of
 *    per-minute history (goal: under 1 s): the time of GET /api/overview
 *    (first call, then warm), and of the whole page in headless Chromium
 *    from navigation to the plots drawn and the ban table filled.
 * 2. What the page costs the ingest path: TCP syslog messages parsed per
 *    second by the service with no page open and with 10 pollers asking for
 *    the overview at the page's rate (every 3 s, as 10 open browsers would),
 *    in alternating rounds after a warm-up round, printed side by side with
 *    their ratio.
 *
 *   npx tsx bench/web.ts [--bans 100000] [--days 14] [--messages 300000]
 *                        [--pollers 10] [--rounds 3] [--part all|page|ingest]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { HistoryStore } from '../src/history/history-store.js';
import { STATE_FILE, SqliteStateStore } from '../src/state/sqlite-state-store.js';
import { createServer } from 'node:net';
import { launchChromium } from '../test/web/chromium.js';
import { poll, spawnSender } from './syslog-receivers.js';

const { values } = parseArgs({
  options: {
    bans: { type: 'string', default: '100000' },
    days: { type: 'string', default: '14' },
    messages: { type: 'string', default: '300000' },
    pollers: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    part: { type: 'string', default: 'all' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(`npx tsx bench/web.ts [options]   (run npm run build first: it starts dist/'s fleetban run)
  --bans N       active bans in the state, each on 10 hosts of the ledger (default 100000)
  --days N       days of per-minute history (default 14)
  --messages N   TCP syslog messages per ingest round (default 300000)
  --pollers N    pollers asking for the overview every 3 s (default 10)
  --rounds N     ingest rounds without and with pollers, alternating, after a warm-up (default 3)
  --part P       all, page (overview and Chromium only) or ingest (default all)`);
  process.exit(0);
}
const BANS = Number(values.bans);
const DAYS = Number(values.days);
const MESSAGES = Number(values.messages);
const POLLERS = Number(values.pollers);
const ROUNDS = Number(values.rounds);
const PART = values.part;
const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const JAILS = ['vpopmail', 'courier-auth', 'courier-smtp'];

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A state folder with BANS active bans (on 10 hosts of the ledger) and DAYS of history. */
function populate(stateDir: string): void {
  mkdirSync(stateDir, { recursive: true });
  const file = join(stateDir, STATE_FILE);
  const now = Date.now();
  const t0 = process.hrtime.bigint();
  const state = SqliteStateStore.open(file, { flushMs: 0 });
  const ledger = state.db.prepare("INSERT OR REPLACE INTO ledger (host, jail, ip, want, status, updated) VALUES (?, ?, ?, 'ban', ?, ?)");
  state.db.transaction(() => {
    for (let i = 0; i < BANS; i++) {
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const jail = JAILS[i % 3]!;
      const since = now - (BANS - i) * 10;
      state.commitBan(
        { jail, ip, since, until: since + 7 * 86_400_000, count: 1, failures: 5, scope: { kind: 'fleet' }, origins: ['mx1'], fields: { user: `user${i}` }, matches: [], manual: false },
        { jail, ip, time: since, banTime: 7 * 86400, count: 1 },
      );
      for (let h = 1; h <= 10; h++) ledger.run(`mx${h}`, jail, ip, i % 97 === 0 && h === 3 ? 'failed' : i % 13 === 0 ? 'pending' : 'applied', since);
    }
  })();
  state.close();
  const tBans = ms(t0);

  const t1 = process.hrtime.bigint();
  const history = HistoryStore.open(file);
  const lastMinute = Math.floor(now / 60_000);
  const minutes = DAYS * 1440;
  const series: string[] = [
    ...JAILS.flatMap((j) => [`failures|${j}`, `bans|${j}`]),
    ...['udp 0.0.0.0:514', 'tcp 0.0.0.0:514'].flatMap((l) => [`source.received|${l}`, `source.parsed|${l}`, `source.dropped|${l}|parse`]),
    ...Array.from({ length: 20 }, (_, i) => `198.18.0.${i + 2}`).flatMap((s) => [`sender.received|${s}`, `sender.parsed|${s}`]),
  ];
  history.db.transaction(() => {
    for (let m = lastMinute - minutes; m < lastMinute; m++) {
      history.addMinute(m, series.map((s, i) => [s, 1 + ((m * 7 + i * 13) % 50)]));
    }
  })();
  const attackers = [];
  for (let i = 0; i < BANS; i++) {
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    attackers.push({ ip, first: now - 3_600_000, last: now - i, failures: 5 + (i % 40), jails: { [JAILS[i % 3]!]: 5 }, origins: { mx1: 3, mx2: 2 }, users: { [`user${i}`]: 5 } });
  }
  history.merge(attackers, [], []);
  const rows = (history.db.prepare('SELECT COUNT(*) AS n FROM history_minute').get() as { n: number }).n;
  history.close();
  console.log(`state: ${BANS.toLocaleString('en')} bans with 10 hosts each in ${(tBans / 1000).toFixed(1)} s; history: ${rows.toLocaleString('en')} minute rows (${series.length} series x ${minutes.toLocaleString('en')} minutes) and ${BANS.toLocaleString('en')} attackers in ${(ms(t1) / 1000).toFixed(1)} s`);
}

/** A port the kernel picks from its ephemeral range (outside every test suite's range). */
function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

interface Service {
  child: ChildProcess;
  http: number;
  tcp: number;
  stop(): Promise<void>;
}

async function startService(dir: string): Promise<Service> {
  const conf = join(dir, 'conf');
  cpSync(join(ROOT, 'conf'), conf, { recursive: true });
  const http = await ephemeralPort();
  let tcp = await ephemeralPort();
  while (tcp === http) tcp = await ephemeralPort();
  writeFileSync(join(conf, 'fleetban.local'), `[fleetban]\nstatedir = ${join(dir, 'var')}\nloglevel = warn\n[listen]\nudp =\ntcp = 127.0.0.1:${tcp}\n[journal]\nenabled = no\n[metrics]\nlisten = 127.0.0.1:${http}\n`);
  const child = spawn(process.execPath, [CLI, 'run', '-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  const t0 = process.hrtime.bigint();
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${http}/api/session`);
      if (r.ok) break;
    } catch {
      // not yet
    }
    if (child.exitCode !== null) throw new Error('fleetban run exited');
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(`fleetban run up (${BANS.toLocaleString('en')} bans restored) in ${(ms(t0) / 1000).toFixed(1)} s`);
  return {
    child,
    http,
    tcp,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function overviewTimes(svc: Service): Promise<void> {
  const url = `http://127.0.0.1:${svc.http}/api/overview?range=week`;
  const api: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 8; i++) {
    const t0 = process.hrtime.bigint();
    const body = await (await fetch(url)).text();
    api.push(ms(t0));
    bytes = body.length;
  }
  console.log(
    `GET /api/overview?range=week (${(bytes / 1024).toFixed(0)} KiB): first ${api[0]!.toFixed(0)} ms, median ${median(api).toFixed(0)} ms, max ${Math.max(...api).toFixed(0)} ms (load ${loadavg()[0]!.toFixed(2)})`,
  );

  // The bench's own wait expression is evaluated in the page; the page's CSP forbids eval.
  const chrome = await launchChromium({ bypassCSP: true });
  const browser = chrome.browser;
  try {
    const listed = "document.querySelectorAll('#active-bans tbody tr').length > 0";
    // The page as it opens (the last hour), then with a click on "last week" as soon as it can be clicked.
    for (const range of ['hour', 'week'] as const) {
      const renders: number[] = [];
      for (let i = 0; i < 5; i++) {
        const page = await browser.newPage();
        const t0 = process.hrtime.bigint();
        await page.goto(`http://127.0.0.1:${svc.http}/#overview`);
        if (range === 'week') await page.click('text=last week');
        const points = range === 'week' ? 300 : 50;
        await page.waitForFunction(`Number(document.querySelector('#plot-failures')?.dataset.points) > ${points} && ${listed}`, undefined, { timeout: 30_000 });
        renders.push(ms(t0));
        await page.close();
      }
      console.log(
        `page in Chromium, navigation to the ${range}'s plots drawn and 100 newest bans listed: first ${renders[0]!.toFixed(0)} ms, median ${median(renders).toFixed(0)} ms (load ${loadavg()[0]!.toFixed(2)})`,
      );
    }
  } finally {
    await chrome.close();
  }
}

/**
 * Messages per second through `fleetban run` (TCP, one connection), counted
 * by its pipeline. The sender has every frame built before it is told to
 * go, and the service's counters are read only once the sender has written
 * the last frame (then every 20 ms until all are counted): a probe polled
 * during the run would itself cost the service what is being measured.
 */
/** CPU seconds (user + system) the service has used so far, from /proc: what it spent, whoever else shares the machine. */
function cpuSeconds(svc: Service): number {
  const fields = readFileSync(`/proc/${svc.child.pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  // After the command name: state is field 3, utime 14 and stime 15 (proc(5)), in clock ticks of 1/100 s.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface IngestRound {
  /** Messages per second, wall clock. */
  rate: number;
  /** The service's CPU time per message, microseconds: serving the pollers included. */
  cpuUs: number;
}

async function ingestRate(svc: Service, label: string): Promise<IngestRound> {
  const parsed = async () => {
    const text = await (await fetch(`http://127.0.0.1:${svc.http}/metrics`)).text();
    return [...text.matchAll(/^fleetban_messages_parsed_total\{source="tcp [^"]*"\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
  };
  const before = await parsed();
  const sender = spawnSender(['tcp', String(svc.tcp), '1', String(MESSAGES)]);
  let out = '';
  sender.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await poll(() => out.includes('ready'), 60_000);
  const t0 = process.hrtime.bigint();
  const cpu0 = cpuSeconds(svc);
  sender.stdin!.write('go\n');
  if (!(await poll(() => out.includes('sent'), 300_000))) throw new Error(`${label}: the sender did not finish within 300 s`);
  let n = before;
  for (;;) {
    n = await parsed();
    if (n - before >= MESSAGES || ms(t0) > 300_000) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = ms(t0) / 1000;
  const cpu = cpuSeconds(svc) - cpu0;
  sender.kill();
  if (n - before < MESSAGES) throw new Error(`${label}: ${(n - before).toLocaleString('en')} of ${MESSAGES.toLocaleString('en')} messages parsed within 300 s`);
  const rate = (n - before) / seconds;
  const cpuUs = (cpu / (n - before)) * 1e6;
  console.log(
    `ingest ${label}: ${(n - before).toLocaleString('en')} messages in ${seconds.toFixed(2)} s = ${Math.round(rate).toLocaleString('en')} msg/s; ` +
      `service CPU ${cpu.toFixed(2)} s = ${cpuUs.toFixed(1)} us/msg (load ${loadavg()[0]!.toFixed(2)})`,
  );
  return { rate, cpuUs };
}

/** POLLERS pollers asking for the overview every 3 s, as open pages do. */
function startPollers(svc: Service): { stop(): Promise<number> } {
  let running = true;
  let calls = 0;
  const loops = Array.from({ length: POLLERS }, async (_, i) => {
    await new Promise((r) => setTimeout(r, (i * 3000) / POLLERS));
    while (running) {
      await (await fetch(`http://127.0.0.1:${svc.http}/api/overview?range=hour`)).text();
      calls++;
      await new Promise((r) => setTimeout(r, 3000));
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return calls;
    },
  };
}

/**
 * Rounds without and with pollers, alternating, after a warm-up round that
 * is not counted: the first messages decide the bans of the mix's 500
 * addresses and fill the history's maps, so a first round does more work
 * than the ones after it and would make whichever came first look slower.
 */
async function ingestComparison(svc: Service): Promise<void> {
  await ingestRate(svc, 'warm-up (decides the bans, not counted)');
  const quiet: IngestRound[] = [];
  const busy: IngestRound[] = [];
  let calls = 0;
  for (let r = 1; r <= ROUNDS; r++) {
    quiet.push(await ingestRate(svc, `round ${r}, no page open`));
    const pollers = startPollers(svc);
    busy.push(await ingestRate(svc, `round ${r}, ${POLLERS} pollers every 3 s`));
    calls += await pollers.stop();
  }
  const spread = (xs: number[]) => ((Math.max(...xs) - Math.min(...xs)) / median(xs)) * 100;
  const fmt = (x: number) => Math.round(x).toLocaleString('en');
  const rate = (xs: IngestRound[]) => xs.map((x) => x.rate);
  const cpu = (xs: IngestRound[]) => xs.map((x) => x.cpuUs);
  console.log(
    `ingest rate, median of ${ROUNDS}: ${fmt(median(rate(quiet)))} msg/s without pollers (rounds ${spread(rate(quiet)).toFixed(1)}% apart), ` +
      `${fmt(median(rate(busy)))} msg/s with ${POLLERS} pollers (${spread(rate(busy)).toFixed(1)}% apart, ${calls} overview calls); ` +
      `with / without: ${(median(rate(busy)) / median(rate(quiet))).toFixed(3)}`,
  );
  // Wall-clock rates on a shared machine move with everyone else's load; the service's own CPU per message does not.
  console.log(
    `service CPU per message, median of ${ROUNDS}: ${median(cpu(quiet)).toFixed(1)} us without pollers (${spread(cpu(quiet)).toFixed(1)}% apart), ` +
      `${median(cpu(busy)).toFixed(1)} us with (${spread(cpu(busy)).toFixed(1)}% apart); with / without: ${(median(cpu(busy)) / median(cpu(quiet))).toFixed(3)}`,
  );
}

if (!['all', 'page', 'ingest'].includes(PART)) throw new Error(`--part: all, page or ingest, not ${PART}`);
const dir = mkdtempSync(join(tmpdir(), 'fleetban-bench-web-'));
try {
  populate(join(dir, 'var'));
  const svc = await startService(dir);
  try {
    if (PART !== 'ingest') await overviewTimes(svc);
    if (PART !== 'page') await ingestComparison(svc);
  } finally {
    await svc.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`load average (1, 5, 15 min): ${loadavg().map((x) => x.toFixed(2)).join(', ')}`);
