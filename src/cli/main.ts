#!/usr/bin/env node
import { defaultConfigDir } from './config-dir.js';
import { EXIT_USAGE } from './exit-codes.js';
import { plainRunConfDir, runVerb } from './verb.js';

// `fleetban regex big.log vpopmail | head`: a reader that stops early is no error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

try {
  // `fleetban run` as systemd starts it skips commander: start-up is the time to listening.
  const confDir = plainRunConfDir(process.argv.slice(2), defaultConfigDir);
  if (confDir !== undefined) {
    await runVerb(async () => (await import('./run.js')).runCommand({ confDir }));
  } else {
    const { buildProgram } = await import('./program.js');
    await buildProgram().parseAsync(process.argv);
  }
} catch (err) {
  if ((err as { name?: string }).name === 'CommanderError') {
    // --help and --version exit 0; everything else commander refuses is usage.
    process.exitCode = (err as { exitCode?: number }).exitCode === 0 ? 0 : EXIT_USAGE;
  } else {
    process.stderr.write(`fleetban: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 70;
  }
}
