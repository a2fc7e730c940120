import type { DelayObserver } from './metrics.js';

/**
 * Measures, per ban, the delay from the decision (the failure that crossed
 * maxretry) to the last acknowledgement from the hosts in its scope, into
 * the `fleetban_ban_delay_seconds` histogram. Bans still waiting for a host
 * that is down are dropped oldest first past `maxTracked`, so the table
 * stays bounded however long a host stays away.
 */
export class BanDelay {
  private readonly waiting = new Map<string, { start: number; hosts: Set<string> }>();

  constructor(
    private readonly histogram: DelayObserver,
    private readonly maxTracked = 100_000,
  ) {}

  started(jail: string, ip: string, hosts: readonly string[], at: number): void {
    if (hosts.length === 0) return;
    if (this.waiting.size >= this.maxTracked) {
      // Map iteration is insertion order: the oldest go first.
      for (const k of this.waiting.keys()) {
        this.waiting.delete(k);
        if (this.waiting.size < this.maxTracked / 2) break;
      }
    }
    this.waiting.set(`${jail}\u0000${ip}`, { start: at, hosts: new Set(hosts) });
  }

  acknowledged(jail: string, ip: string, host: string, at: number): void {
    const key = `${jail}\u0000${ip}`;
    const w = this.waiting.get(key);
    if (!w || !w.hosts.delete(host)) return;
    if (w.hosts.size === 0) {
      this.waiting.delete(key);
      this.histogram.observe((at - w.start) / 1000);
    }
  }
}
