import type { ActionFamily, ActionSpec } from '../config/action-reader.js';
import type { FleetHost } from '../config/fleet-reader.js';
import { ShellDriver } from './shell-driver.js';

/**
 * The pseudo-hosts of the actions a jail runs once, on the central host,
 * where the decision is made (`central_action =`: mail to the administrator,
 * abuse reports, a cloud firewall, a webhook): not on every mail server.
 *
 * Each central action is a host of the fleet dispatcher like any other,
 * named `central/ACTNAME`, so each ban gets a ledger row per action, its own
 * retries and a line in `fleetban banned`; its session is a local /bin/sh
 * instead of ssh, driven by the shell driver, so values from log lines travel
 * to it as data exactly as they do to a mail server.
 */
export const CENTRAL_HOST_NAME = 'central';

/** Commands of a central action may talk to slow services (SMTP, HTTP APIs). */
const CENTRAL_TIMEOUT_MS = 120_000;

export const CENTRAL_HOST: FleetHost = {
  name: CENTRAL_HOST_NAME,
  address: 'localhost',
  port: 0,
  user: '',
  groups: [],
  driver: 'local',
  timeoutMs: CENTRAL_TIMEOUT_MS,
  connectTimeoutMs: 10_000,
  aliveIntervalS: 0,
};

/** What the local session runs: sh reading the commands on its standard input. */
export const LOCAL_SHELL = '/bin/sh';

/**
 * The shell driver, with one difference: an action without actioncheck has
 * its actionstart run once per session (the service's life, for a local
 * shell), not at every reconciliation, since for a central action it sends
 * something (sendmail-*'s "jail started" mail) rather than sets something up.
 */
export class LocalDriver extends ShellDriver {
  override readonly remoteCommand = LOCAL_SHELL;
  private readonly started = new Set<string>();

  constructor(private readonly jailActions: (jail: string) => ActionSpec[], now?: () => number) {
    super(jailActions, now);
  }

  /**
   * No boot id: what a central action did (a mail sent, a report filed, a
   * cloud rule) outlives a reboot of the central host, so a reboot must not
   * send every ban again the way it does to a mail server's firewall.
   */
  override hello(id: number): string {
    return `echo "${this.nonce} ${id} 0"\n`;
  }

  override ensure(id: number, jail: string, family: ActionFamily): string | null {
    const live = this.jailActions(jail).filter((a) => !a.dryRun);
    const checked = live.some((a) => a.families[family].actioncheck !== undefined);
    // Both families share one start of a central action (one mail, not two).
    if (!checked && this.started.has(jail)) return null;
    this.started.add(jail);
    return super.ensure(id, jail, family);
  }
}
