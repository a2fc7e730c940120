import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../helpers/requirements.js';
import { cli, removeConfDir, ServiceProcess, testConfDir } from '../helpers/service-process.js';
import { waitFor } from '../helpers/wait.js';

// The control socket under clients that misbehave: one that pipelines
// requests and never reads the answers, many that hold connections open.
// The service must stay bounded in memory and keep answering the CLI, and
// when it does refuse a connection, the CLI must say so, not "not running".

// Ports of this suite: 15685-15689.
const PORT = 15685;

/** Resident memory of `pid` in kB, from /proc/PID/status. */
function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]);
}

/**
 * A python client that opens `connections` connections to the socket and on
 * each writes `requests` status requests without ever reading an answer (0:
 * writes nothing, an idle connection). Writes that block for 10 s are given
 * up. It prints `sent N` (requests the service took, all connections) and
 * then holds the connections open until killed.
 */
function startClient(socket: string, connections: number, requests: number): { child: ChildProcess; sent: Promise<number> } {
  const child = spawn('python3', ['-c', `
import socket, sys, time
socks, sent = [], 0
line = b'{"id":1,"verb":"status","args":{}}\\n'
batch = line * 1000
for _ in range(${connections}):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(${JSON.stringify(socket)})
    socks.append(s)
    s.settimeout(10)
    left = ${requests}
    try:
        while left > 0:
            n = min(left, 1000)
            s.sendall(batch[: n * len(line)])
            left -= n
            sent += n
    except (socket.timeout, BrokenPipeError, ConnectionResetError):
        pass
print("sent", sent, flush=True)
time.sleep(600)
`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const sent = new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /sent (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`client exited ${code}: ${out}`)));
  });
  return { child, sent };
}

describe.skipIf(missing('control socket under load', { commands: ['python3'] }))('the control socket under clients that do not read', () => {
  let conf: string;
  let svc: ServiceProcess;
  let socket: string;
  let client: ChildProcess | undefined;

  beforeAll(async () => {
    conf = testConfDir({ udp: PORT });
    svc = await ServiceProcess.start(conf);
    socket = join(conf, '..', 'var', 'fleetban.sock');
    expect(cli(conf, 'status').code).toBe(0);
  });
  afterEach(async () => {
    if (client && client.exitCode === null) {
      const gone = new Promise((r) => client!.once('exit', r));
      client.kill('SIGKILL');
      await gone;
    }
    client = undefined;
    // The service notices the closed connections before the next test.
    await waitFor('the service to answer again', () => cli(conf, 'status').code === 0);
  });
  afterAll(async () => {
    await svc?.stop('SIGKILL');
    removeConfDir(conf);
  });

  it('400,000 pipelined status requests never read: the service stops reading them, memory stays bounded, others are answered', async () => {
    const before = rssKb(svc.child.pid!);
    const c = startClient(socket, 1, 400_000);
    client = c.child;
    const sent = await c.sent;
    // Backpressure: the service stopped taking requests long before the 400,000.
    expect(sent).toBeLessThan(400_000);
    const status = cli(conf, 'status', '--json');
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toHaveProperty('listeners');
    // Unbounded, this was 86 MB -> 755 MB. Bounded: the answers of one connection (1 MiB) and a few requests.
    const grown = rssKb(svc.child.pid!) - before;
    expect(grown).toBeLessThan(64 * 1024);
  });

  it('40 idle connections: the CLI still gets its answer (the idlest connection makes room)', async () => {
    const c = startClient(socket, 40, 0);
    client = c.child;
    expect(await c.sent).toBe(0);
    const r = cli(conf, 'status');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/listeners/i);
  });

  it('40 connections each with requests not read: the CLI says the service is running and why it refused', async () => {
    const c = startClient(socket, 40, 5000);
    client = c.child;
    await c.sent;
    const r = cli(conf, 'status');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('fleetban is running but refused the connection: too many control connections (16 open, the limit is 16)');
    expect(r.stderr).not.toContain('EPIPE');
    expect(r.stderr).not.toContain('not running');
  });
});
