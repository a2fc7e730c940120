/**
 * Caps on open TCP and TLS connections, over all stream listeners together:
 * each one holds a file descriptor and a frame buffer, and a stranger who
 * opens ten thousand must not starve the mail servers of theirs.
 */
export interface ConnectionLimitSettings {
  maxConnections: number;
  maxConnectionsPerSender: number;
}

export class ConnectionLimits {
  private total = 0;
  private readonly perSender = new Map<string, number>();

  constructor(private readonly settings: ConnectionLimitSettings) {}

  /** Count a new connection from `ip`, or return false when a limit is reached (then nothing is counted). */
  admit(ip: string): boolean {
    const mine = this.perSender.get(ip) ?? 0;
    if (this.total >= this.settings.maxConnections || mine >= this.settings.maxConnectionsPerSender) return false;
    this.total++;
    this.perSender.set(ip, mine + 1);
    return true;
  }

  release(ip: string): void {
    const mine = this.perSender.get(ip);
    if (mine === undefined) return;
    this.total--;
    if (mine <= 1) this.perSender.delete(ip);
    else this.perSender.set(ip, mine - 1);
  }

  get open(): number {
    return this.total;
  }
}
