#!/usr/bin/env node
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';
import { EXIT_USAGE } from './exit-codes.js';

// `fleetban regex big.log vpopmail | head`: a reader that stops early is no error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version exit 0; everything else commander refuses is usage.
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
  } else {
    process.stderr.write(`fleetban: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 70;
  }
}
