import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsFleet } from '../helpers/netns-fleet.js';
import { missing } from '../helpers/requirements.js';
import { cli, removeConfDir, ServiceProcess, testConfDir } from '../helpers/service-process.js';
import { waitFor } from '../helpers/wait.js';

/** `Nov 21 10:00:00` for now, in this host's time zone, as a mail server's syslog writes it. */
function rfc3164Now(): string {
  const d = new Date();
  const mon = d.toLocaleString('en-US', { month: 'short' });
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${mon} ${String(d.getDate()).padStart(2, ' ')} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// Port 15620; namespaces fbfe2e1..3 on 198.18.240.0/24.
const PORT = 15620;

/** The whole path: logger -> listener -> filter -> jail -> state -> SSH -> ip route in three namespaces. */
describe.skipIf(missing('fleet end-to-end', { root: true, commands: ['ip', '/usr/sbin/sshd', 'ssh'] }))(
  'a ban decided from logs reaches every mail server and ends everywhere',
  () => {
    let fleet: NetnsFleet;
    let conf: string;
    let svc: ServiceProcess;

    beforeAll(async () => {
      fleet = await NetnsFleet.create({ tag: 'e2e', block: 240, count: 3 });
      const hosts = fleet.fleetConf();
      conf = testConfDir({
        udp: PORT,
        files: {
          'fleet.conf': hosts,
          // Shipped jails, with the route action and a short bantime to watch it end.
          'jail.local': '[DEFAULT]\nbanaction = route\nbantime = 4\nbantime.increment = false\nmaxretry = 3\n',
        },
      });
      svc = await ServiceProcess.start(conf);
      await waitFor('every host connected', () => {
        const r = cli(conf, 'hosts', '--json');
        return r.code === 0 && (JSON.parse(r.stdout) as { connected: boolean }[]).filter((h) => h.connected).length === 3;
      });
    }, 120_000);

    afterAll(async () => {
      await svc?.stop('SIGKILL');
      await fleet?.destroy();
      if (conf) removeConfDir(conf);
    });

    it('Courier failures from two servers ban the attacker on all three, then lift it', async () => {
      // Spread over two servers, as a careful attacker would: each alone stays under maxretry.
      // logger always writes this machine's hostname; the datagrams of two servers are written here as they would send them.
      const sock = createSocket('udp4');
      const send = (host: string, port: number) =>
        new Promise((r) => sock.send(`<38>${rfc3164Now()} ${host} imapd[${port}]: LOGIN FAILED, user=info@example.com, ip=[::ffff:203.0.113.77], port=[${port}]`, PORT, '127.0.0.1', r));
      await send('mx1', 40001);
      await send('mx2', 40002);
      await send('mx2', 40003);
      sock.close();

      await waitFor('the route on every host', () => fleet.hosts.every((h) => fleet.routes(h).includes('203.0.113.77')), 15_000);
      const list = JSON.parse(cli(conf, 'banned', '--json').stdout) as { jail: string; ip: string; hosts: Record<string, string> }[];
      const ban = list.find((b) => b.ip === '203.0.113.77')!;
      expect(ban.jail).toBe('courier-auth');
      await waitFor('every host acknowledged', () => {
        const b = (JSON.parse(cli(conf, 'banned', '--json').stdout) as typeof list).find((x) => x.ip === '203.0.113.77');
        return !!b && Object.values(b.hosts).length === 3 && Object.values(b.hosts).every((s) => s === 'applied');
      });

      // bantime = 4 s: then the route is gone from every host and the ban from the list.
      await waitFor('the route gone everywhere', () => fleet.hosts.every((h) => !fleet.routes(h).includes('203.0.113.77')), 20_000);
      expect((JSON.parse(cli(conf, 'banned', '--json').stdout) as unknown[]).length).toBe(0);
      // One structured line each, naming the jail, the address, the hosts and why. The log
      // reaches this test through a pipe that the synchronous CLI calls above kept it from reading.
      await waitFor('the Unban line', () => svc.logged('Unban').length > 0, 5_000);
      expect(svc.logged('Ban')).toEqual([
        expect.objectContaining({ jail: 'courier-auth', ip: '203.0.113.77', hosts: ['mx1', 'mx2', 'mx3'], reason: '3 failures within findtime' }),
      ]);
      expect(svc.logged('Unban')).toEqual([
        expect.objectContaining({ jail: 'courier-auth', ip: '203.0.113.77', hosts: ['mx1', 'mx2', 'mx3'], reason: 'expired' }),
      ]);
    });
  },
);
