/** fleetban.conf, validated and typed. Read by service-reader.ts. */

import type { WebConfig } from '../web/web-config.js';

/** A listener address: `host:port` or `[v6]:port` in fleetban.conf. */
export interface ListenAddress {
  host: string;
  port: number;
}

export interface ListenConfig {
  udp: ListenAddress[];
  tcp: ListenAddress[];
  tls: ListenAddress[];
  tlsCert?: string;
  tlsKey?: string;
  /** When set, client certificates are mandatory and verified against it (RFC 5425 mutual TLS). */
  tlsCa?: string;
  /**
   * CIDRs whose messages are accepted. Empty in the file means the default:
   * loopback plus every fleet.conf address (the service adds those).
   */
  allowedSenders: string[];
  /** Longest accepted frame or datagram, bytes (default 64 KiB). */
  maxFrame: number;
  /** UDP SO_RCVBUF asked for, bytes (default 4 MiB; the kernel caps it at net.core.rmem_max). */
  recvBufferSize: number;
  /** TCP/TLS connection limits and idle timeout. */
  maxConnections: number;
  maxConnectionsPerSender: number;
  idleTimeoutMs: number;
  /** Time zone offset for RFC 3164 stamps without one, per sender CIDR; default the central host's. */
  senderTimezones: { cidr: string; tz: string }[];
}

export interface JournalConfig {
  enabled: 'auto' | 'yes' | 'no';
  directory?: string;
  file?: string;
  /** Where the first start reads from, seconds back from now; 0 = from now (-n 0). */
  sinceSeconds: number;
}

/** `[state]`: where bans, history, failures, the ledger and cursors live. */
export interface StateConfig {
  /** `sqlite` (one file under statedir, the default) or `postgresql` (shared by the nodes of a cluster). */
  backend: 'sqlite' | 'postgresql';
  /** `postgresql://USER@HOST/DB` (a URL-encoded socket folder as HOST works); only for postgresql. */
  url?: string;
  /** This node's name in the cluster; default the host name. */
  node: string;
  /** A file holding the database password (else PGPASSWORD). */
  passwordFile?: string;
  /** How long a leader's lease lasts without renewal, ms. */
  leaseMs: number;
  /** After how long without PostgreSQL a node bans for its own senders alone, ms (0: never). */
  standaloneMs: number;
}

export interface ServiceConfig {
  /** Folder of the SQLite state (bans, failures, ledger, cursors). */
  stateDir: string;
  /** Control socket path. */
  socket: string;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  listen: ListenConfig;
  journal: JournalConfig;
  metrics: { listen?: ListenAddress };
  /** `[web]`: the status page. */
  web: WebConfig;
  /** Ban history older than this is forgotten, seconds (fail2ban's dbpurgeage); it bounds bantime.increment's memory. */
  dbPurgeAge: number;
  /** How often the fleet compares what each host should have with what it has, seconds. */
  reconcileInterval: number;
  state: StateConfig;
}
