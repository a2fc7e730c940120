import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, cli, removeConfDir, ServiceProcess, testConfDir } from '../helpers/service-process.js';
import { waitFor } from '../helpers/wait.js';

// Ports of this suite: 15610-15619.
const run = promisify(execFile);

/** RFC 6587 octet-counted frames, as rsyslog sends over TCP. */
function frame(msg: string): string {
  return `${Buffer.byteLength(msg)} ${msg}`;
}

/** 2001:db8::/32 has room for every attacker a test needs, one address each. */
function attacker(i: number): string {
  return `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`;
}

/** As vchkpw writes the client: an address of up to 30 characters with '_' for ':'. */
function vchkpwLine(ip: string): string {
  return `<37>Nov 21 10:00:00 mx1 vpopmail[4242]: vchkpw-smtp: vpopmail user not found nobody@:${ip.replaceAll(':', '_')}`;
}

async function sendAll(port: number, frames: Iterable<string>): Promise<void> {
  const sock: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((res, rej) => sock.once('connect', res).once('error', rej));
  let batch = '';
  for (const f of frames) {
    batch += f;
    if (batch.length > 64 * 1024) {
      if (!sock.write(batch)) await new Promise((r) => sock.once('drain', r));
      batch = '';
    }
  }
  sock.end(batch);
  await new Promise((r) => sock.once('close', r));
}

interface Status {
  jails: { jail: string; totalFailed: number; currentlyBanned: number }[];
  listeners: Record<string, { received: number; parsed: number }>;
}
const status = (conf: string) => JSON.parse(cli(conf, 'status', '--json').stdout) as Status;

let conf: string | undefined;
let svc: ServiceProcess | undefined;
afterEach(async () => {
  await svc?.stop('SIGKILL');
  if (conf) removeConfDir(conf);
  svc = undefined;
  conf = undefined;
});

describe('reload and stop without losing anything', () => {
  it('counts every one of 100,000 TCP messages while reloading 10 times', async () => {
    conf = testConfDir({ tcp: 15611 });
    svc = await ServiceProcess.start(conf);
    const total = 100_000;
    const frames = function* () {
      for (let i = 0; i < total; i++) yield frame(vchkpwLine(attacker(i)));
    };
    const reloads = (async () => {
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 40));
        if (i % 2 === 0) svc!.child.kill('SIGHUP');
        else await run(process.execPath, [CLI, '-c', conf!, 'reload']);
      }
    })();
    await Promise.all([sendAll(15611, frames()), reloads]);
    const vpopmail = () => status(conf!).jails.find((j) => j.jail === 'vpopmail')!;
    await waitFor('every failure counted', () => vpopmail().totalFailed >= total, 60_000);
    const s = status(conf);
    expect(s.listeners['tcp 127.0.0.1:15611']).toMatchObject({ received: total, parsed: total });
    expect(vpopmail().totalFailed).toBe(total);
    expect(svc.logged('configuration reloaded').length).toBe(10);
  });

  it('stops cleanly on a SIGTERM sent while it starts, and a SIGHUP then does not kill it', async () => {
    conf = testConfDir({ udp: 15612 });
    svc = ServiceProcess.spawn(conf);
    // The UDP listener is open before the rest of the service has started.
    await waitFor('the UDP listener', () => svc!.logged('udp listening').length === 1, 20_000, 1);
    svc.child.kill('SIGHUP');
    svc.child.kill('SIGTERM');
    expect(await svc.stop('SIGTERM')).toBe(0);
    expect(svc.logged('fleetban stopped')).toHaveLength(1);
  });

  it('keeps every ban of a burst in the ledger across SIGTERM and restart', async () => {
    conf = testConfDir({
      tcp: 15612,
      files: {
        // Two mail servers that refuse connections: every ban stays pending for them.
        'fleet.conf': '[DEFAULT]\nuser = fleetban\n[mx1]\naddress = 127.0.0.1\nport = 1\n[mx2]\naddress = 127.0.0.1\nport = 2\n',
        'jail.local': '[DEFAULT]\nbanaction = route\nmaxretry = 2\n',
      },
    });
    svc = await ServiceProcess.start(conf);
    const attackers = 500;
    const frames = function* () {
      for (let round = 0; round < 2; round++) for (let i = 0; i < attackers; i++) yield frame(vchkpwLine(attacker(i)));
    };
    await sendAll(15612, frames());
    await waitFor('all frames received', () => status(conf!).listeners['tcp 127.0.0.1:15612']?.received === 2 * attackers);
    // Stop while the bans are still being decided and recorded.
    expect(await svc.stop('SIGTERM')).toBe(0);

    svc = await ServiceProcess.start(conf);
    const list = JSON.parse(cli(conf, 'banned', '--json').stdout) as { ip: string; hosts: Record<string, string> }[];
    expect(list.length).toBe(attackers);
    for (const b of list) {
      expect(Object.keys(b.hosts).sort(), b.ip).toEqual(['mx1', 'mx2']);
      expect(b.hosts.mx1).not.toBe('applied');
    }
  });
});
