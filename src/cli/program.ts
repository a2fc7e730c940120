import { Command } from 'commander';
import { defaultConfigDir } from './config-dir.js';
import { runVerb } from './verb.js';

/**
 * The one binary's verbs. Each verb lives in its own module, imported only
 * when that verb runs, so `fleetban regex` does not load SQLite and
 * `fleetban status` does not compile filters. The README's CLI reference is
 * generated from this definition (src/cli/reference.ts), so it stays true.
 */
export function buildProgram(): Command {
  const program = new Command('fleetban')
    .description('Central log host for a mail fleet: fail2ban filters, fleet-wide bans over SSH')
    .option('-c, --conf <dir>', 'configuration directory', defaultConfigDir())
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) });

  function confDir(): string {
    return program.opts<{ conf: string }>().conf;
  }

  program
    .command('run')
    .description('run the service in the foreground (systemd runs it this way)')
    .action(() => runVerb(async () => (await import('./run.js')).runCommand({ confDir: confDir() })));

  program
    .command('regex')
    .description('test a filter against a log file or a single line, like fail2ban-regex')
    .argument('<log>', 'a log file, or one log line')
    .argument('<filter>', 'a filter.d name, a path to a fail2ban filter file, or a bare regex')
    .option('--json', 'print one JSON object')
    .action((log: string, filter: string, opts: { json?: boolean }) =>
      runVerb(async () =>
        (await import('./regex.js')).regexCommand({ confDir: confDir(), log, filter, json: !!opts.json }),
      ),
    );

  program
    .command('check-config')
    .description('validate every configuration file and print the resolved jails, filters, actions and hosts')
    .action(() => runVerb(async () => (await import('./check-config.js')).checkConfigCommand({ confDir: confDir() })));

  program
    .command('status')
    .description('the service at a glance, or one jail')
    .argument('[jail]')
    .option('--json', 'print JSON')
    .action((jail: string | undefined, opts: { json?: boolean }) =>
      runVerb(async () =>
        (await import('./control-verbs.js')).statusCommand({ confDir: confDir(), jail, json: !!opts.json }),
      ),
    );

  program
    .command('banned')
    .description('list active bans with their state on every host')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) =>
      runVerb(async () => (await import('./control-verbs.js')).bannedCommand({ confDir: confDir(), json: !!opts.json })),
    );

  program
    .command('hosts')
    .description('the mail servers: connection state, pending operations, last error')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) =>
      runVerb(async () => (await import('./control-verbs.js')).hostsCommand({ confDir: confDir(), json: !!opts.json })),
    );

  program
    .command('ban')
    .description('ban an address in a jail, as if the jail had decided it')
    .argument('<jail>')
    .argument('<ip>')
    .action((jail: string, ip: string) =>
      runVerb(async () => (await import('./control-verbs.js')).banCommand({ confDir: confDir(), jail, ip })),
    );

  program
    .command('unban')
    .description('lift a ban in one jail, or in every jail')
    .argument('<jail-or-ip>')
    .argument('[ip]')
    .action((a: string, b: string | undefined) =>
      runVerb(async () =>
        (await import('./control-verbs.js')).unbanCommand(
          b === undefined ? { confDir: confDir(), ip: a } : { confDir: confDir(), jail: a, ip: b },
        ),
      ),
    );

  program
    .command('reload')
    .description('re-read the configuration without dropping listeners, connections or bans')
    .action(() => runVerb(async () => (await import('./control-verbs.js')).reloadCommand({ confDir: confDir() })));

  program
    .command('nodes')
    .description('the nodes of a cluster ([state] backend = postgresql): role, last heartbeat, failures forwarded, lag')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) =>
      runVerb(async () => (await import('./nodes.js')).nodesCommand({ confDir: confDir(), json: !!opts.json })),
    );

  program
    .command('state')
    .description('move the state between backends')
    .command('copy')
    .description('copy the SQLite state (bans, history, failures, ledger) into PostgreSQL; stop the service first')
    .requiredOption('--to <url>', 'postgresql://USER@HOST/DB')
    .option('--password-file <file>', 'the database password (else PGPASSWORD)')
    .action((opts: { to: string; passwordFile?: string }) =>
      runVerb(async () =>
        (await import('./state-copy.js')).stateCopyCommand({ confDir: confDir(), to: opts.to, passwordFile: opts.passwordFile }),
      ),
    );

  return program;
}
