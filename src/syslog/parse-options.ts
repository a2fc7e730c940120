import type { Timezone } from './timezone.js';

export interface ParseOptions {
  /** Now, ms since the epoch: decides the year of an RFC 3164 stamp. */
  now: number;
  /** Zone of stamps that state none (RFC 3164): the sender's, default the central host's. */
  zone: Timezone;
}
