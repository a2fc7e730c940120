import type { BanBook } from '../bans/ban-book.js';
import { formatScope } from '../bans/scope.js';
import type { LedgerStorage } from '../fleet/ledger.js';
import type { FilterLosses } from '../filters/filter-losses.js';
import type { JailManager } from '../jails/jail-manager.js';
import { JailError } from '../jails/jail-error.js';
import type { JailStatus } from '../jails/jail-status.js';
import type { ControlServer } from './control-server.js';
import { ControlError, optionalStringArg, stringArg } from './protocol.js';

/** `fleetban banned --json`: one entry per ban. Times are ISO-8601; `until` is null for ever. */
export interface BannedJson {
  jail: string;
  ip: string;
  since: string;
  until: string | null;
  count: number;
  /** fleet.conf host -> what the ledger says of this ban there. */
  hosts: Record<string, 'applied' | 'pending' | 'failed'>;
}

/** The answer to `status` without a jail; the service adds its own sections (listeners, journal, hosts). */
export interface ServiceStatus {
  jails: JailStatus[];
  [section: string]: unknown;
}

/** The answer to `ban`. */
export interface BanJson {
  jail: string;
  ip: string;
  since: string;
  until: string | null;
  count: number;
  scope: string;
  /** True when the address was banned already (nothing changed). */
  already: boolean;
}

export interface JailHandlerOptions {
  jails: JailManager;
  /** The active bans (`banned`). */
  book: BanBook;
  /** Where each ban stands on each host (`banned`'s hosts). */
  ledger: Pick<LedgerStorage, 'allHosts'>;
  /** Re-read jails, filters, actions and hosts (the service's reload); returns what it wants shown. */
  reload?: () => unknown;
  /** Each jail's filter counters (src/filters/filter-losses.ts), shown by `status JAIL`. */
  filterLosses?: () => readonly ({ jail: string } & FilterLosses)[];
  /** Sections the service adds to `status` (listeners, journal, hosts...). */
  statusSections?: () => Record<string, unknown> | Promise<Record<string, unknown>>;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * The verbs about jails and bans: `status`, `banned`, `ban`, `unban`, and
 * `reload` when the service gives its reload. `hosts` belongs to the fleet:
 * the service registers it itself.
 */
export function registerJailHandlers(server: ControlServer, o: JailHandlerOptions): void {
  server.handle('status', async (args) => {
    const jail = optionalStringArg(args, 'jail');
    if (jail !== undefined) {
      const s = jailCall(() => o.jails.status(jail)) as JailStatus;
      const found = o.filterLosses?.().find((l) => l.jail === jail);
      if (!found) return s;
      const { hostName, ambiguous, tooLong, tooSlow, retried, multilineEvicted } = found;
      const out: JailStatus = { ...s, linesLost: { hostName, ambiguous, tooLong, tooSlow, retried, multilineEvicted } };
      return out;
    }
    const extra = o.statusSections ? await o.statusSections() : {};
    const out: ServiceStatus = { jails: o.jails.status() as JailStatus[], ...extra };
    return out;
  });

  server.handle('banned', async () => {
    const hosts = await o.ledger.allHosts();
    const bans = [...o.book.active()].sort((a, b) => a.since - b.since || cmp(a.jail, b.jail) || cmp(a.ip, b.ip));
    return bans.map(
      (b): BannedJson => ({
        jail: b.jail,
        ip: b.ip,
        since: iso(b.since)!,
        until: iso(b.until),
        count: b.count,
        hosts: hosts.get(`${b.jail}\u0000${b.ip}`) ?? {},
      }),
    );
  });

  server.handle('ban', async (args) => {
    const jail = stringArg(args, 'jail');
    const ip = stringArg(args, 'ip');
    const already = o.jails.isBanned(jail, ip);
    const d = await jailCall(() => o.jails.ban(jail, ip));
    const out: BanJson = { jail: d.jail, ip: d.ip, since: iso(d.since)!, until: iso(d.until), count: d.count, scope: formatScope(d.scope), already };
    return out;
  });

  server.handle('unban', async (args) => {
    const jail = optionalStringArg(args, 'jail');
    const ip = stringArg(args, 'ip');
    const lifted = await jailCall(() => o.jails.unban(jail, ip));
    if (lifted === 0) throw new ControlError(`${ip} is not banned${jail === undefined ? '' : ` in ${jail}`}`, 'not-so');
    return { lifted };
  });

  server.handle('reload', async () => {
    if (!o.reload) throw new ControlError('this service cannot reload', 'internal');
    try {
      const extra = await o.reload();
      return extra ?? { jails: o.jails.jailNames() };
    } catch (err) {
      // A mistake in the files: the running configuration stays, and the CLI exits 2 naming file, line and key.
      if ((err as Error).name === 'ConfigError') throw new ControlError((err as Error).message, 'usage');
      throw err;
    }
  });
}

/** JailManager's refusals become answers: an unknown jail is "not so", a bad address a usage error. */
function jailCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof JailError) throw new ControlError(err.message, err.kind === 'invalid-ip' ? 'usage' : 'not-so');
    throw err;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
