/**
 * UDP syslog: the highest rate received without loss. A sender in its own
 * process blasts vpopmail/Courier/postfix lines (half of them failures) at
 * rising rates for a fixed time each, against
 *   - fleetban (listeners, real pipeline, shipped filters; its own counters),
 *   - rsyslogd with imudp writing every message to a file (the peer),
 * taking turns at each rate so both see the same machine. Prints, per rate,
 * what each received, the rate the sender really reached, the kernel's
 * drops, the CPU each receiver spent per message, the receive buffer the
 * kernel granted each, the load, and the highest rate without loss side by
 * side with their ratio. Both ask for a 4 MiB receive buffer; the kernel
 * grants at most net.core.rmem_max (rsyslogd, as root, forces more with
 * SO_RCVBUFFORCE: the `rcvbuf` column shows it).
 *
 *   npx tsx bench/udp.ts [--rates 50000,100000,150000,200000,250000] [--seconds 5] [--no-rsyslog]
 *   npx tsx bench/udp.ts --seconds 10      the longer runs of issue 14
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadAverage, poll, spawnSender, startFleetban, startRsyslogReceiver, udpReceiveBuffer, type Receiver } from './syslog-receivers.js';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '50000,100000,150000,200000,250000' },
    seconds: { type: 'string', default: '5' },
    'no-rsyslog': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`usage: npx tsx bench/udp.ts [--rates R1,R2,...] [--seconds S] [--no-rsyslog]

Sends S seconds of datagrams at each rate R to fleetban (shipped filters) and
to rsyslogd (imudp -> file), in turns, and prints the highest rate each took
without losing a message, and the ratio. Defaults: --rates 50000,100000,150000,200000,250000
--seconds 5 (about 2 minutes); --seconds 10 for the longer runs.`);
  process.exit(0);
}
const rates = values.rates.split(',').map(Number);
const seconds = Number(values.seconds);

/** Datagrams the kernel dropped for a full receive buffer, machine-wide (Udp: RcvbufErrors). */
function rcvbufErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]!.split(/\s+/);
  const vals = lines[1]!.split(/\s+/);
  return Number(vals[names.indexOf('RcvbufErrors')]);
}

interface Step {
  name: string;
  rate: number;
  sent: number;
  got: number;
  kernelDrops: number;
  sendSeconds: number;
  cpuSeconds: number;
  rcvbuf: number | undefined;
  load: string;
  notes: string;
}

async function step(start: () => Promise<Receiver>, rate: number): Promise<Step> {
  const receiver = await start();
  const rcvbuf = udpReceiveBuffer(receiver.port);
  const drops0 = rcvbufErrors();
  const sender = spawnSender(['udp', String(receiver.port), String(rate), String(seconds)]);
  let out = '';
  sender.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => sender.once('exit', r));
  const m = /sent (\d+) in ([\d.]+) s/.exec(out);
  const sent = m ? Number(m[1]) : 0;
  // Whatever is still in buffers and queues gets a few seconds to come through.
  await poll(() => receiver.count() >= sent, 5000);
  const got = receiver.count();
  const notes = receiver.notes();
  const cpuSeconds = receiver.cpuSeconds();
  const load = loadAverage();
  await receiver.stop();
  return { name: receiver.name, rate, sent, got, kernelDrops: rcvbufErrors() - drops0, sendSeconds: m ? Number(m[2]) : NaN, cpuSeconds, rcvbuf, load, notes };
}

const receivers: [string, () => Promise<Receiver>][] = [['fleetban', () => startFleetban('udp', true)]];
if (!values['no-rsyslog']) receivers.push(['rsyslogd', () => startRsyslogReceiver('udp')]);

const loadBefore = loadAverage();
const table: Record<string, Step[]> = {};
for (const rate of rates) {
  for (const [key, start] of receivers) (table[key] ??= []).push(await step(start, rate));
}

const n = (x: number) => Math.round(x).toLocaleString('en');
console.log(`\nUDP, ${seconds} s per rate, net.core.rmem_max ${readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim()} bytes; load average before ${loadBefore}, after ${loadAverage()}\n`);
for (const [key, steps] of Object.entries(table)) {
  console.log(`${steps[0]!.name}`);
  console.log('     rate/s  reached msg/s        sent    received     lost  kernel drops  CPU us/msg   rcvbuf  load after     notes');
  for (const s of steps) {
    console.log(
      `${n(s.rate).padStart(11)}  ${n(s.sent / s.sendSeconds).padStart(13)}  ${n(s.sent).padStart(10)}  ${n(s.got).padStart(10)}  ${n(s.sent - s.got).padStart(7)}  ${n(s.kernelDrops).padStart(12)}  ${((s.cpuSeconds * 1e6) / Math.max(1, s.got)).toFixed(1).padStart(10)}  ${(s.rcvbuf === undefined ? '-' : n(s.rcvbuf)).padStart(8)}  ${s.load.padEnd(14)}  ${s.notes}`,
    );
  }
  console.log(`  highest rate without loss: ${n(bestOf(key))} msg/s (${key})\n`);
}

/** The highest rate asked for at which every message arrived (0: none). */
function bestOf(k: string): number {
  return Math.max(0, ...(table[k] ?? []).filter((s) => s.got >= s.sent).map((s) => s.rate));
}
/** The highest rate the sender really reached in a step without loss. */
function bestReached(k: string): number {
  return Math.max(0, ...(table[k] ?? []).filter((s) => s.got >= s.sent).map((s) => s.sent / s.sendSeconds));
}
/** CPU per message over all steps. */
function cpuPerMessage(k: string): number {
  const steps = table[k] ?? [];
  return (steps.reduce((a, s) => a + s.cpuSeconds, 0) * 1e6) / Math.max(1, steps.reduce((a, s) => a + s.got, 0));
}
if (table.rsyslogd) {
  const ratio = (a: number, b: number) => (b ? (a / b).toFixed(2) : '-');
  const [f, r] = [bestOf('fleetban'), bestOf('rsyslogd')];
  const [fr, rr] = [bestReached('fleetban'), bestReached('rsyslogd')];
  const [fc, rc] = [cpuPerMessage('fleetban'), cpuPerMessage('rsyslogd')];
  console.log('                                   fleetban    rsyslogd   ratio (fleetban/rsyslogd)');
  console.log(`zero-loss rate asked, msg/s      ${n(f).padStart(10)}  ${n(r).padStart(10)}   ${ratio(f, r)}`);
  console.log(`zero-loss rate reached, msg/s    ${n(fr).padStart(10)}  ${n(rr).padStart(10)}   ${ratio(fr, rr)}`);
  console.log(`CPU per message, us              ${fc.toFixed(1).padStart(10)}  ${rc.toFixed(1).padStart(10)}   ${ratio(fc, rc)} (lower is better)`);
  console.log(`load average before ${loadBefore}, after ${loadAverage()}`);
}
