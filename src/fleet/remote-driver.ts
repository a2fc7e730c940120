import { JAIL_NAME } from '../config/jail-reader.js';
import type { ActionFamily } from '../config/action-reader.js';
import type { Answer, AnswerParser, HostDriver, OpsUnit } from './host-driver.js';

/** Addresses per `ban` line: the helper's `read` takes a byte per syscall, keep lines short. */
export const REMOTE_BATCH_MAX = 256;
const MAX_OUTPUT = 2000;

/**
 * The jail names fleetban-remote accepts: they become ipset and nft set
 * names on the server (keep in step with packaging/remote/fleetban-remote).
 * The jail reader allows no others; the check here guards jails built in code.
 */
export const REMOTE_JAIL = JAIL_NAME;

/**
 * Drives a host whose key is bound to the forced command fleetban-remote:
 * one request a line (`hello`, `check JAIL`, `ban JAIL IP...`, `unban JAIL
 * IP...`, `flush JAIL`), one `ok [INFO]` or `err MESSAGE` a request, in order.
 * Only canonical addresses and checked jail names are ever written.
 */
export class RemoteDriver implements HostDriver {
  readonly remoteCommand = 'fleetban-remote';

  hello(): string {
    return 'hello\n';
  }

  ensure(_id: number, jail: string, _family: ActionFamily): string | null {
    return REMOTE_JAIL.test(jail) ? `check ${jail}\n` : null;
  }

  batchLimit(): number {
    return REMOTE_BATCH_MAX;
  }

  ops(_id: number, unit: OpsUnit): string {
    if (!REMOTE_JAIL.test(unit.jail)) {
      throw new Error(`jail name ${JSON.stringify(unit.jail)} is not one fleetban-remote accepts (letters, digits, '_', '.', '-'; at most 25)`);
    }
    return `${unit.want} ${unit.jail} ${unit.ops.map((o) => o.ip).join(' ')}\n`;
  }

  flush(_id: number, jail: string): string | null {
    return REMOTE_JAIL.test(jail) ? `flush ${jail}\n` : null;
  }

  parser(): AnswerParser {
    let output = '';
    return {
      feed(line: string): Answer | undefined {
        if (line === 'ok' || line.startsWith('ok ')) {
          output = '';
          // `hello` answers "ok fleetban-remote 1 BOOTID"; `check` may answer "ok started".
          const words = line.slice(3).trim().split(' ');
          const extra = words[0] === 'fleetban-remote' ? (words[2] ?? '') : words.join(' ');
          return { ok: true, text: '', extra };
        }
        if (line === 'err' || line.startsWith('err ')) {
          const text = line.slice(4).trim() || output || 'failed';
          output = '';
          return { ok: false, text, extra: '' };
        }
        if (output.length < MAX_OUTPUT) output += (output ? '\n' : '') + line;
        return undefined;
      },
    };
  }
}
