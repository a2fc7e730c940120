import { ConfigError } from '../config/config-error.js';
import { Service } from '../service/service.js';
import { CliError, EXIT_NOT_SO, EXIT_OK } from './exit-codes.js';

/**
 * `fleetban run`: the service in the foreground, as systemd runs it.
 * SIGHUP re-reads the configuration (an invalid one is refused and the
 * running one kept); SIGTERM and SIGINT stop it cleanly, leaving the bans in
 * place on the mail servers.
 */
export async function runCommand(o: { confDir: string }): Promise<number> {
  // The handlers are installed before the service starts, and never removed:
  // its listeners are open before start() returns, a signal then must not
  // kill it the default way, and removing a signal's last listener drops a
  // signal that libuv has caught but not yet handed over. A stop asked for
  // while it starts is done once it has started; a reload is moot then, since
  // it is reading the configuration anyway.
  let service: Service | undefined;
  let stopAsked: string | undefined;
  let stop: ((signal: string) => void) | undefined;
  const onStop = (signal: string) => () => {
    if (stop) stop(signal);
    else stopAsked ??= signal;
  };
  process.on('SIGTERM', onStop('SIGTERM'));
  process.on('SIGINT', onStop('SIGINT'));
  process.on('SIGHUP', () => {
    service?.reload().catch((err: Error) => {
      service?.logger.child({ component: 'service' }).error({ err: err.message }, 'reload refused: the running configuration stays');
    });
  });
  try {
    service = await Service.start({ confDir: o.confDir });
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new CliError(`cannot start: ${(err as Error).message}`, EXIT_NOT_SO);
  }
  const running = service;
  const log = running.logger.child({ component: 'service' });

  await new Promise<void>((resolve) => {
    let stopping = false;
    stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      // A stop that hangs (a host that never answers) must not keep systemd waiting for ever.
      const guard = setTimeout(() => {
        log.error('stop took too long; exiting');
        process.exit(EXIT_OK);
      }, 8000);
      guard.unref();
      running.stop().then(resolve, (err: Error) => {
        log.error({ err: err.message }, 'error while stopping');
        resolve();
      });
    };
    if (stopAsked) stop(stopAsked);
  });
  return EXIT_OK;
}
