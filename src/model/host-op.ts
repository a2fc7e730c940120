/** One thing to do on one mail server: apply or remove one ban there. */
export interface HostOp {
  /** fleet.conf section name. */
  host: string;
  op: 'ban' | 'unban';
  jail: string;
  ip: string;
  /** Seconds the ban lasts (-1 for ever), for the <bantime> action tag. */
  bantime: number;
  /** Failures counted, for the <failures> action tag. */
  failures: number;
  /** Ban time, ms since the epoch, for the <time> action tag. */
  time: number;
  /** Captured fields, for <F-*> tags; quoted or refused before they reach a shell. */
  fields: Record<string, string>;
}
