import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CursorStore } from '../../state/cursor-store.js';

/**
 * A cursor kept in one small file, replaced atomically (write, then
 * rename), so a crash leaves the old cursor or the new one, never half of
 * one. The service keeps its cursor in the state database; this one serves
 * tests, benchmarks and tools that follow a journal without a database.
 */
export class FileCursorStore implements CursorStore {
  /** Times save() wrote the file. */
  writes = 0;

  constructor(readonly file: string) {}

  load(): string | undefined {
    try {
      const text = readFileSync(this.file, 'utf8').trim();
      return text || undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  save(cursor: string): void {
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, cursor + '\n');
    renameSync(tmp, this.file);
    this.writes++;
  }
}

/** A cursor kept in memory: what a restart inside one process sees. */
export class MemoryCursorStore implements CursorStore {
  /** Every cursor saved, oldest first. */
  readonly saved: string[] = [];

  constructor(private cursor?: string) {}

  load(): string | undefined {
    return this.cursor;
  }

  save(cursor: string): void {
    this.cursor = cursor;
    this.saved.push(cursor);
  }
}
