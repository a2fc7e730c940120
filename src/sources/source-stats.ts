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

export interface SourceStats {
  /** Per listener, keyed like `udp 127.0.0.1:514` or `tls [::]:6514`. Listeners closed by a reload keep their counts. */
  sources: Record<string, Counters>;
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
    return {
      sources: copy(this.sources),
      senders: copy(this.senders),
      connections: { ...k, refused: { ...k.refused } },
    };
  }
}
