import type { execa as Execa } from 'execa';

let loaded: typeof Execa | undefined;

/**
 * execa, loaded on first use. It is some sixty small modules (cross-spawn,
 * signal-exit, ...) that cost a few hundred milliseconds to load; the
 * journal is probed only after the listeners are open, so loading execa
 * then keeps it out of the time from `fleetban run` to listening.
 */
export async function journalctlRunner(): Promise<typeof Execa> {
  loaded ??= (await import('execa')).execa;
  return loaded;
}
