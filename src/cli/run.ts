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
  let service: Service;
  try {
    service = await Service.start({ confDir: o.confDir });
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new CliError(`cannot start: ${(err as Error).message}`, EXIT_NOT_SO);
  }
  const log = service.logger.child({ component: 'service' });

  process.on('SIGHUP', () => {
    service.reload().catch((err: Error) => {
      log.error({ err: err.message }, 'reload refused: the running configuration stays');
    });
  });

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      // A stop that hangs (a host that never answers) must not keep systemd waiting for ever.
      const guard = setTimeout(() => {
        log.error('stop took too long; exiting');
        process.exit(EXIT_OK);
      }, 8000);
      guard.unref();
      service.stop().then(resolve, (err: Error) => {
        log.error({ err: err.message }, 'error while stopping');
        resolve();
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  return EXIT_OK;
}
