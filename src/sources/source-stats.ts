/**
 * Counters of the syslog listeners, kept as plain numbers in plain objects
 * so the hot path only increments, and the metrics endpoint reads a copy.
 */

/** Why a message did not reach the filters. */
export type DropReason = 'not-allowed' | 'too-long' | 'framing' | 'parse' | 'overload';

export const DROP_REASONS: readonly DropReason[] = ['not-allowed', 'too-long', 'framing', 'parse', 'overload'];

export interface Counters {
  /** Datagrams and frames that arrived (dropped ones included). */
  received: number;
  /** Messages parsed and handed to the filters. */
  parsed: number;
  /**
   * Messages lost, by reason: `not-allowed` sender outside allowed_senders
   * (for TCP and TLS one per refused connection), `too-long` above maxframe,
   * `framing` bad RFC 6587 framing, `parse` empty message, `overload` the
   * pipeline was full and UDP cannot slow its sender.
   */
  dropped: Record<DropReason, number>;
}

export interface ConnectionCounters {
  /** Open TCP and TLS connections now. */
  open: number;
  accepted: number;
  /** Refused at connect: sender not allowed, or a connection limit reached. */
  refused: { 'not-allowed': number; limit: number };
  /** Closed after idle_timeout without a byte. */
  idleClosed: number;
  /** TLS handshakes that failed or never finished (bad or missing client certificate, half a handshake). */
  tlsFailed: number;
}

/** A listener's counters; a UDP listener's also carry the kernel's count of what never reached us. */
export interface SourceCounters extends Counters {
  /**
   * UDP only: datagrams the kernel dropped because the socket's receive
   * buffer was full, from the socket's own counter (udp-socket-drops.ts).
   * Not in `received`: fleetban never saw them. Absent where the kernel
   * does not say (not Linux).
   */
  kernelDrops?: number;
}

export interface SourceStats {
  /** Per listener, keyed like `udp 127.0.0.1:514` or `tls [::]:6514`. Listeners closed by a reload keep their counts. */
  sources: Record<string, SourceCounters>;
  /** Per sending address (canonical IP). At most MAX_SENDERS of them; later ones are counted under `other`. */
  senders: Record<string, Counters>;
  connections: ConnectionCounters;
}

/** Senders tracked one by one. UDP source addresses can be forged: without a cap, a flood of them would grow this table without end. */
export const MAX_SENDERS = 10_000;

export function newCounters(): Counters {
  return {
    received: 0,
    parsed: 0,
    dropped: { 'not-allowed': 0, 'too-long': 0, framing: 0, parse: 0, overload: 0 },
  };
}

export class StatsBook {
  private readonly sources = new Map<string, Counters>();
  private readonly senders = new Map<string, Counters>();
  readonly connections: ConnectionCounters = {
    open: 0,
    accepted: 0,
    refused: { 'not-allowed': 0, limit: 0 },
    idleClosed: 0,
    tlsFailed: 0,
  };

  /**
   * Kernel drop counts of UDP listeners: a reader of the open socket's
   * count (`read`, none while closed), its last reading, the sum of the
   * listener's earlier sockets, and whether the kernel ever answered.
   */
  private readonly kernel = new Map<string, { read: (() => number | undefined) | undefined; last: number; earlier: number; known: boolean }>();

  /** The listener `key` now has a socket whose kernel drop count `read` gives. */
  watchKernelDrops(key: string, read: () => number | undefined): void {
    this.retireKernelDrops(key);
    const k = this.kernel.get(key);
    if (k) k.read = read;
    else this.kernel.set(key, { read, last: 0, earlier: 0, known: false });
  }

  /** The socket of `key` is closing: its count is kept, and later sockets of the listener add to it. */
  retireKernelDrops(key: string): void {
    const k = this.kernel.get(key);
    if (!k?.read) return;
    this.readKernel(k);
    k.earlier += k.last;
    k.last = 0;
    k.read = undefined;
  }

  private readKernel(k: { read: (() => number | undefined) | undefined; last: number; known: boolean }): void {
    const now = k.read?.();
    if (now === undefined) return;
    k.last = now;
    k.known = true;
  }

  source(key: string): Counters {
    let c = this.sources.get(key);
    if (!c) this.sources.set(key, (c = newCounters()));
    return c;
  }

  sender(ip: string): Counters {
    let c = this.senders.get(ip);
    if (!c) {
      const key = this.senders.size >= MAX_SENDERS ? 'other' : ip;
      c = this.senders.get(key);
      if (!c) this.senders.set(key, (c = newCounters()));
    }
    return c;
  }

  /** A copy, safe to keep and serialise. */
  snapshot(): SourceStats {
    const copy = (m: Map<string, Counters>) => {
      const out: Record<string, Counters> = {};
      for (const [k, c] of m) out[k] = { received: c.received, parsed: c.parsed, dropped: { ...c.dropped } };
      return out;
    };
    const k = this.connections;
    const sources: Record<string, SourceCounters> = copy(this.sources);
    for (const [key, k] of this.kernel) {
      this.readKernel(k);
      if (k.known && sources[key]) sources[key].kernelDrops = k.earlier + k.last;
    }
    return {
      sources,
      senders: copy(this.senders),
      connections: { ...k, refused: { ...k.refused } },
    };
  }
}
