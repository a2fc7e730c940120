/**
 * TCP syslog throughput: N octet-counted vpopmail/Courier/postfix lines sent
 * as fast as the receiver takes them, on 1 and on 8 connections, to
 *   - fleetban, parsing only (a sink that counts),
 *   - fleetban, parsing and matching with the shipped filters (the real pipeline),
 *   - rsyslogd with imptcp writing every message to a file (the peer).
 * Prints messages per second of each and the ratio to rsyslogd.
 *
 *   npx tsx bench/tcp.ts [--messages 1000000] [--connections 1,8] [--no-rsyslog]
 */
import { parseArgs } from 'node:util';
import { failuresIn } from './syslog-lines.js';
import { poll, spawnSender, startFleetban, startRsyslogReceiver, type Receiver } from './syslog-receivers.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    connections: { type: 'string', default: '1,8' },
    'no-rsyslog': { type: 'boolean', default: false },
  },
});
const total = Number(values.messages);
const connectionCounts = values.connections.split(',').map(Number);

interface Result {
  receiver: string;
  connections: number;
  seconds: number;
  rate: number;
  complete: boolean;
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
  await receiver.stop();
  return { receiver: receiver.name, connections, seconds, rate: receiver.count() / seconds, complete, notes };
}

const results: Result[] = [];
for (const c of connectionCounts) {
  results.push(await measure(await startFleetban('tcp', false), c));
  results.push(await measure(await startFleetban('tcp', true), c));
  if (!values['no-rsyslog']) results.push(await measure(await startRsyslogReceiver('tcp'), c));
}

console.log(`\nTCP, ${total.toLocaleString('en')} messages (${failuresIn(total).toLocaleString('en')} of them failures for the shipped filters)\n`);
console.log('connections  receiver                              seconds      msg/s   vs rsyslogd  notes');
for (const r of results) {
  const peer = results.find((p) => p.connections === r.connections && p.receiver.startsWith('rsyslogd'));
  const ratio = peer ? (r.rate / peer.rate).toFixed(2) : '-';
  console.log(
    `${String(r.connections).padStart(11)}  ${r.receiver.padEnd(36)}  ${r.seconds.toFixed(2).padStart(7)}  ${Math.round(r.rate).toLocaleString('en').padStart(9)}  ${ratio.padStart(11)}  ${r.complete ? '' : 'INCOMPLETE '}${r.notes}`,
  );
}
