/**
 * Undo records for the state a multi-line filter keeps between lines (its
 * line buffers and its mlfid cache).
 *
 * Lines are matched in batches under a time limit (regex-guard.ts); a batch
 * that is stopped is run again from its first line, or split in halves. A
 * filter that only computes can simply be run again, but one that remembers
 * lines would then see the batch's lines twice. So while a guarded attempt
 * runs, every change to the state leaves an undo record here; an attempt
 * that was stopped is rolled back before the next one starts, and one that
 * finished is committed (its records dropped). Outside a guarded attempt
 * (a direct matchLine) nothing is recorded: changes are final at once.
 */
export class StateJournal {
  private undo: Array<() => void> | null = null;
  /** Counts that become real only when the attempt is committed (evictions). */
  private pendingCounts = 0;

  /** Start a guarded attempt: first undo what a stopped one left behind. */
  begin(): void {
    this.rollback();
    this.undo = [];
  }

  /** Undo the changes of the running (stopped) attempt. */
  rollback(): void {
    const u = this.undo;
    if (u === null) return;
    for (let i = u.length - 1; i >= 0; i--) u[i]!();
    u.length = 0;
    this.pendingCounts = 0;
  }

  /** The attempt finished: its changes stay; returns the counts it made. */
  commit(): number {
    this.undo = null;
    const n = this.pendingCounts;
    this.pendingCounts = 0;
    return n;
  }

  /** Record how to undo a change just made (nothing outside an attempt). */
  record(undo: () => void): void {
    this.undo?.push(undo);
  }

  /** A count (an eviction) made now: returned at once outside an attempt, else held until commit. */
  count(): number {
    if (this.undo === null) return 1;
    this.pendingCounts++;
    return 0;
  }
}
