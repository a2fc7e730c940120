/**
 * Capped exponential backoff with jitter, for reconnecting to a host: quick
 * after a blip, patient with a host that is down, and spread out so that a
 * fleet that lost the network together does not come back in one wave.
 */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly baseMs = 250,
    private readonly capMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {}

  /** The wait before the next attempt: half fixed, half random ("equal jitter"). */
  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  /** A session came up: start again from the base delay. */
  reset(): void {
    this.failures = 0;
  }

  get attempts(): number {
    return this.failures;
  }
}
