/** A filter matched a log event: one failed attempt by `ip`, counted by a jail. */
export interface Failure {
  jail: string;
  /** Canonical address (IPv4 dotted quad, IPv6 RFC 5952), printed by src/net/address. */
  ip: string;
  /** Event time in ms since the epoch (the jail may replace a forged one by the arrival time). */
  time: number;
  /** Fleet host (or hostname) the failure was seen on. */
  origin: string;
  /** Captured `<F-NAME>` fields (user, ...). Values came from an attacker: never paste them into a shell. */
  fields: Record<string, string>;
  /** The matched message with any logged password removed, kept with the ban for the administrator. */
  line: string;
}
