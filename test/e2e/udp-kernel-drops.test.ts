import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../helpers/requirements.js';
import { cli, removeConfDir, ServiceProcess, testConfDir } from '../helpers/service-process.js';
import { waitFor } from '../helpers/wait.js';

// Ports of this suite: 15680-15684.
const PORT = 15680;
const METRICS = 15681;
const LISTENER = `udp 127.0.0.1:${PORT}`;
const SENT = 30_000;

/** The kernel's own drop count for the UDP socket on PORT, as `ss` reads it over netlink (sock_diag), a path of its own. */
function kernelCount(): number {
  const out = execFileSync('ss', ['-u', '-a', '-n', '-m', '-H', `sport = :${PORT}`], { encoding: 'utf8' });
  const m = /skmem:\([^)]*\bd(\d+)\)/.exec(out);
  if (!m) throw new Error(`ss shows no socket on ${PORT}: ${out}`);
  return Number(m[1]);
}

interface ListenerJson {
  received: number;
  parsed: number;
  dropped: Record<string, number>;
  kernelDrops?: number;
}

function status(conf: string): { listeners: Record<string, ListenerJson> } {
  const r = cli(conf, 'status', '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { listeners: Record<string, ListenerJson> };
}

describe.skipIf(missing('UDP kernel drops', { commands: ['ss', 'python3'] }))('datagrams the kernel drops for a full receive buffer are counted', () => {
  let conf: string;
  let svc: ServiceProcess;

  beforeAll(async () => {
    conf = testConfDir({ udp: PORT, metrics: METRICS });
    // A small receive buffer, so a modest flood overflows it.
    const local = join(conf, 'fleetban.local');
    writeFileSync(local, readFileSync(local, 'utf8').replace('[listen]\n', '[listen]\nrecvbuffer = 65536\n'));
    svc = await ServiceProcess.start(conf);
  });
  afterAll(async () => {
    if (svc) {
      svc.child.kill('SIGCONT');
      await svc.stop('SIGKILL');
    }
    removeConfDir(conf);
  });

  it('a flood while the service is stopped: kernelDrops in status and /metrics is the kernel count, and nothing is unaccounted', async () => {
    expect(status(conf).listeners[LISTENER]).toMatchObject({ received: 0, kernelDrops: 0 });

    // The whole process stopped, its receive thread too: only the kernel's buffer takes the flood.
    svc.child.kill('SIGSTOP');
    execFileSync('python3', ['-c', `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(${SENT}):
    s.sendto(b"<13>Mar  7 19:06:53 mx1 imapd: flood n=%d ip=[::ffff:198.51.100.7]" % n, ("127.0.0.1", ${PORT}))
`]);
    const kernel = kernelCount();
    expect(kernel).toBeGreaterThan(0);
    svc.child.kill('SIGCONT');

    // Once the thread has read what the buffer held, every datagram sent is either received or counted by the kernel.
    await waitFor('the buffer to be read', () => {
      const l = status(conf).listeners[LISTENER]!;
      return l.received + (l.kernelDrops ?? 0) === SENT || JSON.stringify(l);
    });
    const s = status(conf);
    expect(s.listeners[LISTENER]!.kernelDrops).toBe(kernelCount());
    expect(s.listeners[LISTENER]!.kernelDrops).toBe(kernel);

    const metrics = await (await fetch(`http://127.0.0.1:${METRICS}/metrics`)).text();
    expect(metrics).toContain(`fleetban_messages_kernel_dropped_total{source="${LISTENER}"} ${kernel}\n`);

    // The human status says it on the listener's line.
    const human = cli(conf, 'status');
    expect(human.stdout).toMatch(new RegExp(`${LISTENER}: received \\d+, .*kernelDrops ${kernel}`));
  });
});
