import { pino, type Logger } from 'pino';

/**
 * The service's logger: JSON lines on stdout for journald and log shippers,
 * readable lines when stdout is a terminal. Everything logged about a ban,
 * unban or host change is one structured line (jail, ip, hosts, reason), so
 * administrators can grep and ship it.
 */
export function createLogger(level: string, opts: { pretty?: boolean; destination?: NodeJS.WritableStream } = {}): Logger {
  const pretty = opts.pretty ?? (process.stdout.isTTY === true && !opts.destination);
  if (pretty) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard', ignore: 'pid,hostname' } },
    });
  }
  return pino(
    { level, base: { service: 'fleetban' }, timestamp: pino.stdTimeFunctions.isoTime },
    (opts.destination as pino.DestinationStream | undefined) ?? pino.destination({ fd: 1, sync: false }),
  );
}

export type { Logger };
