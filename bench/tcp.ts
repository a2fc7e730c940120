/**
 * TCP syslog throughput: N octet-counted vpopmail/Courier/postfix lines sent
 * as fast as the receiver takes them, on 1 and on 8 connections, to
 *   - fleetban, parsing only (a sink that counts),
 *   - fleetban, parsing and matching with the shipped filters (the real pipeline),
 *   - rsyslogd with imptcp writing every message to a file (the peer).
 * Prints messages per second of each, the ratio to rsyslogd, the CPU each
 * spent per message, the load, and how 8 connections compare with 1.
 *
 *   npx tsx bench/tcp.ts [--messages 1000000] [--connections 1,8] [--no-rsyslog]
 */
import { parseArgs } from 'node:util';
import { failuresIn } from './syslog-lines.js';
import { loadAverage, poll, spawnSender, startFleetban, startRsyslogReceiver, type Receiver } from './syslog-receivers.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    connections: { type: 'string', default: '1,8' },
    'no-rsyslog': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`usage: npx tsx bench/tcp.ts [--messages N] [--connections C1,C2,...] [--no-rsyslog]

Sends N octet-counted messages over C connections to fleetban (parse only,
and parse + shipped filters) and to rsyslogd (imptcp -> file), and prints
msg/s, the ratio to rsyslogd, CPU per message and the load.
Defaults: --messages 1000000 --connections 1,8 (about 2 minutes on 2 cores).`);
  process.exit(0);
}
const total = Number(values.messages);
const connectionCounts = values.connections.split(',').map(Number);

interface Result {
  receiver: string;
  connections: number;
  seconds: number;
  rate: number;
  complete: boolean;
  cpuSeconds: number;
  load: string;
  notes: string;
}

async function measure(receiver: Receiver, connections: number): Promise<Result> {
  const sender = spawnSender(['tcp', String(receiver.port), String(connections), String(total)]);
  let out = '';
  sender.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await poll(() => out.includes('ready'), 60_000);
  const t0 = process.hrtime.bigint();
  sender.stdin!.write('go\n');
  const complete = await poll(() => receiver.count() >= total, 300_000);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  sender.kill();
  const notes = receiver.notes();
  const cpuSeconds = receiver.cpuSeconds();
  await receiver.stop();
  return { receiver: receiver.name, connections, seconds, rate: receiver.count() / seconds, complete, cpuSeconds, load: loadAverage(), notes };
}

const loadBefore = loadAverage();
const results: Result[] = [];
for (const c of connectionCounts) {
  results.push(await measure(await startFleetban('tcp', false), c));
  results.push(await measure(await startFleetban('tcp', true), c));
  if (!values['no-rsyslog']) results.push(await measure(await startRsyslogReceiver('tcp'), c));
}

console.log(`\nTCP, ${total.toLocaleString('en')} messages (${failuresIn(total).toLocaleString('en')} of them failures for the shipped filters); load average before ${loadBefore}, after ${loadAverage()}\n`);
console.log('connections  receiver                              seconds      msg/s   vs rsyslogd  CPU us/msg  load after      notes');
for (const r of results) {
  const peer = results.find((p) => p.connections === r.connections && p.receiver.startsWith('rsyslogd'));
  const ratio = peer ? (r.rate / peer.rate).toFixed(2) : '-';
  console.log(
    `${String(r.connections).padStart(11)}  ${r.receiver.padEnd(36)}  ${r.seconds.toFixed(2).padStart(7)}  ${Math.round(r.rate).toLocaleString('en').padStart(9)}  ${ratio.padStart(11)}  ${((r.cpuSeconds * 1e6) / total).toFixed(1).padStart(10)}  ${r.load.padEnd(14)}  ${r.complete ? '' : 'INCOMPLETE '}${r.notes}`,
  );
}
// More connections must never be slower than one: compare each receiver's figures across connection counts.
const one = Math.min(...connectionCounts);
for (const c of connectionCounts.filter((c) => c !== one)) {
  for (const r of results.filter((x) => x.connections === c)) {
    const base = results.find((x) => x.connections === one && x.receiver === r.receiver);
    if (base) console.log(`${r.receiver}: ${c} connections / ${one}: ${(r.rate / base.rate).toFixed(2)}${r.rate < base.rate ? '  (slower)' : ''}`);
  }
}
