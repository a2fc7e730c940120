/**
 * The sending side of the benchmarks, run as its own process so sender and
 * receiver do not share an event loop.
 *
 *   udp PORT RATE SECONDS   datagrams at RATE per second for SECONDS; prints "sent N"
 *   tcp PORT CONNECTIONS N  N octet-counted frames spread over CONNECTIONS;
 *                           connects, prints "ready", writes when a line
 *                           arrives on stdin, prints "sent N" when all is written
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { syslogLine } from './syslog-lines.js';

const [mode, portArg, a, b] = process.argv.slice(2);
const port = Number(portArg);

if (mode === 'udp') {
  const rate = Number(a);
  const seconds = Number(b);
  const total = Math.round(rate * seconds);
  // Pre-built datagrams: the sender should measure the receiver, not string building.
  const pool = Array.from({ length: 4096 }, (_, i) => Buffer.from(syslogLine(i)));
  const sock = dgram.createSocket('udp4');
  sock.connect(port, '127.0.0.1', () => {
    const start = process.hrtime.bigint();
    let sent = 0;
    const tick = () => {
      const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
      const due = Math.min(total, Math.floor((elapsedMs * rate) / 1000));
      while (sent < due) {
        sock.send(pool[sent % pool.length]!);
        sent++;
      }
      if (sent < total) setImmediate(tick);
      else {
        const took = Number(process.hrtime.bigint() - start) / 1e9;
        // Let the queued sends leave before closing.
        setTimeout(() => {
          console.log(`sent ${sent} in ${took.toFixed(2)} s`);
          sock.close();
        }, 200);
      }
    };
    tick();
  });
} else if (mode === 'tcp') {
  const connections = Number(a);
  const total = Number(b);
  const per = Math.ceil(total / connections);
  const chunks: Buffer[][] = [];
  let k = 0;
  for (let c = 0; c < connections; c++) {
    const mine: Buffer[] = [];
    let batch = '';
    for (let i = 0; i < per && k < total; i++, k++) {
      const line = syslogLine(k);
      batch += `${Buffer.byteLength(line)} ${line}`;
      if (batch.length > 256 * 1024) {
        mine.push(Buffer.from(batch));
        batch = '';
      }
    }
    if (batch) mine.push(Buffer.from(batch));
    chunks.push(mine);
  }
  const sockets: net.Socket[] = [];
  let connected = 0;
  for (let c = 0; c < connections; c++) {
    const s = net.connect(port, '127.0.0.1', () => {
      if (++connected === connections) console.log('ready');
    });
    sockets.push(s);
  }
  process.stdin.once('data', () => {
    let finished = 0;
    sockets.forEach((s, c) => {
      const queue = chunks[c]!;
      let i = 0;
      const pump = () => {
        while (i < queue.length) {
          if (!s.write(queue[i++]!)) return void s.once('drain', pump);
        }
        s.end(() => {
          if (++finished === connections) console.log(`sent ${total}`);
        });
      };
      pump();
    });
  });
} else {
  console.error('usage: syslog-sender udp PORT RATE SECONDS | tcp PORT CONNECTIONS N');
  process.exit(2);
}
