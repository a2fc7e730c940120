/**
 * UDP syslog: the highest rate received without loss. A sender in its own
 * process blasts vpopmail/Courier/postfix lines at rising rates for a fixed
 * time each, against
 *   - fleetban (listeners, real pipeline, shipped filters; its own counters),
 *   - rsyslogd with imudp writing every message to a file (the peer),
 * and prints, per rate, what each received, and the highest rate with zero
 * loss side by side. Both ask for a 4 MiB receive buffer; the kernel grants
 * at most net.core.rmem_max.
 *
 *   npx tsx bench/udp.ts [--rates 25000,50000,100000,150000,200000] [--seconds 10] [--no-rsyslog]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { poll, spawnSender, startFleetban, startRsyslogReceiver, type Receiver } from './syslog-receivers.js';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '25000,50000,100000,150000,200000' },
    seconds: { type: 'string', default: '10' },
    'no-rsyslog': { type: 'boolean', default: false },
  },
});
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
  rate: number;
  sent: number;
  got: number;
  kernelDrops: number;
  sendSeconds: number;
  notes: string;
}

async function step(start: () => Promise<Receiver>, rate: number): Promise<Step & { name: string }> {
  const receiver = await start();
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
  await receiver.stop();
  return { name: receiver.name, rate, sent, got, kernelDrops: rcvbufErrors() - drops0, sendSeconds: m ? Number(m[2]) : NaN, notes };
}

const receivers: [string, () => Promise<Receiver>][] = [['fleetban', () => startFleetban('udp', true)]];
if (!values['no-rsyslog']) receivers.push(['rsyslogd', () => startRsyslogReceiver('udp')]);

const table: Record<string, (Step & { name: string })[]> = {};
for (const [key, start] of receivers) {
  table[key] = [];
  for (const rate of rates) table[key]!.push(await step(start, rate));
}

console.log(`\nUDP, ${seconds} s per rate, net.core.rmem_max ${readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim()} bytes\n`);
for (const [key, steps] of Object.entries(table)) {
  console.log(`${steps[0]!.name}`);
  console.log('     rate/s   sent msg/s        sent    received     lost  kernel drops  notes');
  for (const s of steps) {
    const lost = s.sent - s.got;
    console.log(
      `${s.rate.toLocaleString('en').padStart(11)}  ${Math.round(s.sent / s.sendSeconds).toLocaleString('en').padStart(11)}  ${s.sent.toLocaleString('en').padStart(10)}  ${s.got.toLocaleString('en').padStart(10)}  ${lost.toLocaleString('en').padStart(7)}  ${s.kernelDrops.toLocaleString('en').padStart(12)}  ${s.notes}`,
    );
  }
  const best = steps.filter((s) => s.got >= s.sent).map((s) => s.rate);
  console.log(`  highest rate without loss: ${best.length ? Math.max(...best).toLocaleString('en') : 'none'} msg/s (${key})\n`);
}
const bestOf = (k: string) => Math.max(0, ...(table[k] ?? []).filter((s) => s.got >= s.sent).map((s) => s.rate));
if (table.rsyslogd) {
  const f = bestOf('fleetban');
  const r = bestOf('rsyslogd');
  console.log(`zero-loss rate: fleetban ${f.toLocaleString('en')} msg/s, rsyslogd ${r.toLocaleString('en')} msg/s, ratio ${r ? (f / r).toFixed(2) : '-'}`);
}
