import { ControlClient, ServiceNotRunning } from '../control/control-client.js';
import type { BanJson, BannedJson, ServiceStatus } from '../control/jail-handlers.js';
import { ControlError } from '../control/protocol.js';
import { renderBanned, renderHosts, renderJailStatus, renderStatus, renderValue, localTime } from '../control/render.js';
import { controlSocketPath } from '../control/socket-path.js';
import type { JailStatus } from '../jails/jail-status.js';
import { canonicalIp, parseCidr } from '../net/address.js';
import { CliError, EXIT_NOT_SO, EXIT_OK, EXIT_USAGE } from './exit-codes.js';

/**
 * The verbs that talk to the running service over its control socket:
 * status, banned, hosts, ban, unban, reload. Human output by default,
 * `--json` as docs/ARCHITECTURE.md defines; exit 0 done, 1 not so (unknown jail, not
 * banned, service not running), 2 usage or configuration error.
 */

interface Base {
  confDir: string;
}

/** Ask the service one thing; its refusals and its absence become CliErrors with the right exit code. */
async function ask<T>(confDir: string, verb: string, args: Record<string, unknown> = {}): Promise<T> {
  const path = controlSocketPath(confDir);
  let client: ControlClient;
  try {
    client = await ControlClient.connect(path);
  } catch (err) {
    if (err instanceof ServiceNotRunning) throw new CliError(err.message, EXIT_NOT_SO);
    throw err;
  }
  try {
    return await client.request<T>(verb, args);
  } catch (err) {
    if (err instanceof ControlError) throw new CliError(err.message, err.kind === 'usage' ? EXIT_USAGE : EXIT_NOT_SO);
    throw new CliError((err as Error).message, EXIT_NOT_SO);
  } finally {
    client.close();
  }
}

const print = (text: string): void => {
  process.stdout.write(text);
};
const printJson = (v: unknown): void => print(JSON.stringify(v, null, 2) + '\n');

export async function statusCommand(o: Base & { jail?: string; json: boolean }): Promise<number> {
  if (o.jail !== undefined) {
    const s = await ask<JailStatus>(o.confDir, 'status', { jail: o.jail });
    if (o.json) printJson(s);
    else print(renderJailStatus(s));
    return EXIT_OK;
  }
  const s = await ask<ServiceStatus>(o.confDir, 'status');
  if (o.json) {
    printJson(s);
    return EXIT_OK;
  }
  print(renderStatus(s));
  return EXIT_OK;
}

export async function bannedCommand(o: Base & { json: boolean }): Promise<number> {
  const list = await ask<BannedJson[]>(o.confDir, 'banned');
  if (o.json) printJson(list);
  else print(renderBanned(list));
  return EXIT_OK;
}

export async function hostsCommand(o: Base & { json: boolean }): Promise<number> {
  const hosts = await ask<unknown>(o.confDir, 'hosts');
  if (o.json) printJson(hosts);
  else print(renderHosts(hosts));
  return EXIT_OK;
}

export async function banCommand(o: Base & { jail: string; ip: string }): Promise<number> {
  if (canonicalIp(o.ip) === null) throw new CliError(`not an IP address: ${JSON.stringify(o.ip)}`, EXIT_USAGE);
  const b = await ask<BanJson>(o.confDir, 'ban', { jail: o.jail, ip: o.ip });
  const until = b.until === null ? 'for ever' : `until ${localTime(b.until)}`;
  print(b.already ? `${b.ip} was already banned in ${b.jail} ${until}\n` : `Banned ${b.ip} in ${b.jail} ${until} (scope ${b.scope})\n`);
  return EXIT_OK;
}

export async function unbanCommand(o: Base & { jail?: string; ip: string }): Promise<number> {
  if (canonicalIp(o.ip) === null && parseCidr(o.ip) === null) throw new CliError(`not an IP address: ${JSON.stringify(o.ip)}`, EXIT_USAGE);
  const r = await ask<{ lifted: number }>(o.confDir, 'unban', o.jail === undefined ? { ip: o.ip } : { jail: o.jail, ip: o.ip });
  print(`Unbanned ${o.ip}${o.jail ? ` in ${o.jail}` : ''} (${r.lifted} ${r.lifted === 1 ? 'ban' : 'bans'} lifted)\n`);
  return EXIT_OK;
}

export async function reloadCommand(o: Base): Promise<number> {
  const r = await ask<unknown>(o.confDir, 'reload');
  print('Reloaded.\n');
  if (r && typeof r === 'object') print(renderValue(undefined, r));
  return EXIT_OK;
}
