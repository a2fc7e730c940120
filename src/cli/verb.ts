import { CliError, EXIT_USAGE } from './exit-codes.js';

/**
 * Run a verb: its module returns the exit code; errors it means for the
 * user (CliError, a ConfigError naming file, line and key) become a message
 * and their exit code, anything else is a bug and propagates.
 */
export async function runVerb(load: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await load();
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`fleetban: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    const named = err as { name?: string; message?: string };
    if (named.name === 'ConfigError') {
      process.stderr.write(`fleetban: ${named.message}\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    throw err;
  }
}

/**
 * The configuration directory when the arguments are exactly `run` with at
 * most a `-c DIR` / `--conf DIR` / `--conf=DIR` (before or after it), the
 * way systemd starts the service; undefined for anything else, which goes
 * through commander. Loading commander and building every verb costs tens
 * of milliseconds that `fleetban run` need not wait for before it listens.
 */
export function plainRunConfDir(args: readonly string[], defaultDir: () => string): string | undefined {
  let conf: string | undefined;
  let run = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === 'run' && !run) run = true;
    else if ((a === '-c' || a === '--conf') && conf === undefined && i + 1 < args.length && !args[i + 1]!.startsWith('-')) conf = args[++i]!;
    else if (a.startsWith('--conf=') && conf === undefined && a.length > 7) conf = a.slice(7);
    else return undefined;
  }
  return run ? (conf ?? defaultDir()) : undefined;
}
