/**
 * What the filter engine hands a jail for one matched line. This is the
 * shape of `FilterMatch` in src/filters/filter.ts; jails need only these
 * fields, so any FilterMatch fits.
 */
export interface JailMatch {
  /** Canonical address (src/net/address). */
  ip: string;
  /** Event time from the line's own stamp, ms; NaN when it has none. */
  time: number;
  /** Captured <F-NAME> fields. */
  fields: Record<string, string>;
  /** The matched line. */
  line: string;
}
