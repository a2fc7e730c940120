/**
 * Where one source (the journal follower) remembers how far it read. `save`
 * is cheap: the cursor is written with the next flush of the state, in the
 * same transaction as the failures counted from the entries before it, so
 * after a crash the source resumes exactly where the saved failures end.
 */
export interface CursorStore {
  load(): string | undefined;
  save(cursor: string): void;
}
