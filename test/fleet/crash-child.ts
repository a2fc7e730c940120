/**
 * A fleetban dispatcher in a process of its own, for the crash test: it
 * connects, records bans (or unbans) in the state database file given, says
 * RECORDED once every row is in the ledger and the commands are on their
 * way, and waits to be killed.
 *
 * Input (JSON in FLEET_CHILD): { db, hosts, actionDir, action, jail, ban: [ip], unban: [ip] }
 */
import { readAction } from '../../src/config/action-reader.js';
import type { FleetHost } from '../../src/config/fleet-reader.js';
import { FleetHarness, openStateDb } from './harness.js';

interface ChildInput {
  db: string;
  hosts: FleetHost[];
  actionDir: string;
  action: string;
  jail: string;
  active: string[];
  ban: string[];
  unban: string[];
}

const input = JSON.parse(process.env.FLEET_CHILD!) as ChildInput;
const db = openStateDb(input.db);
const h = new FleetHarness(input.hosts, { [input.jail]: [readAction(input.actionDir, { name: input.action, params: {} }, input.jail)] }, { db });
for (const ip of input.active) {
  const now = Date.now();
  h.active.set(`${input.jail}\u0000${ip}`, { jail: input.jail, ip, since: now, until: now + 600_000, count: 1, failures: 5, scope: { kind: 'fleet' }, origins: [], fields: {}, matches: [], manual: false });
}
h.start();
// Decide once every session is up, so that the commands are on their way when the kill comes.
while (!h.dispatcher.hosts().every((s) => s.connected)) await new Promise((r) => setTimeout(r, 10));
for (const ip of input.ban) h.ban(input.jail, ip);
for (const ip of input.unban) h.unban(input.jail, ip);

const expected = (ip: string, want: string) =>
  input.hosts.every((host) => h.ledger.get({ host: host.name, jail: input.jail, ip })?.want === want);
const timer = setInterval(() => {
  if (input.ban.every((ip) => expected(ip, 'ban')) && input.unban.every((ip) => expected(ip, 'unban'))) {
    clearInterval(timer);
    // The commands are written now; the hosts are busy with the first of them.
    setTimeout(() => process.stdout.write('RECORDED\n'), 150);
  }
}, 2);
