import type { Pool } from 'pg';
import { ControlError, type ErrorKind } from '../control/protocol.js';

/** Verbs a follower hands to the leader: they read or change what the leader holds. */
export const RELAYED_VERBS = ['status', 'banned', 'hosts', 'ban', 'unban'] as const;
export type RelayedVerb = (typeof RELAYED_VERBS)[number];

/** How long a follower waits for the leader's answer. */
const ANSWER_MS = 10_000;
/** Requests older than this are not served any more: their asker has given up. */
const STALE_S = 15;

interface Answer {
  ok: boolean;
  result: unknown;
}

/**
 * Control verbs across nodes, through PostgreSQL: a follower writes the
 * request into `requests` and NOTIFYs; the leader takes it (FOR UPDATE SKIP
 * LOCKED, so one leader serves it once), runs its own handler and writes the
 * answer, then NOTIFYs back. Both sides also poll, since a notification that
 * arrives while a connection is down is lost.
 */
export class RequestRelay {
  private readonly waiting = new Map<number, (a: Answer) => void>();

  constructor(
    private readonly pool: Pool,
    private readonly node: string,
  ) {}

  /** A follower asks the leader. Throws ControlError with the leader's refusal, or when it does not answer. */
  async ask(verb: string, args: Record<string, unknown>): Promise<unknown> {
    const r = await this.pool.query<{ id: string }>(
      `WITH r AS (INSERT INTO requests (node, verb, args) VALUES ($1, $2, $3::jsonb) RETURNING id)
       SELECT id, pg_notify('fleetban_request', id::text) FROM r`,
      [this.node, verb, JSON.stringify(args)],
    );
    const id = Number(r.rows[0]!.id);
    const deadline = Date.now() + ANSWER_MS;
    const answer = await new Promise<Answer | undefined>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (a: Answer | undefined) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(a);
      };
      this.waiting.set(id, finish);
      const poll = () => {
        if (Date.now() > deadline) return finish(undefined);
        void this.fetch(id).then(
          (a) => (a ? finish(a) : (timer = setTimeout(poll, 250))),
          () => (timer = setTimeout(poll, 250)),
        );
      };
      timer = setTimeout(poll, 250);
    });
    if (!answer) throw new ControlError('the leader did not answer (is a leader running? see fleetban nodes)', 'internal');
    if (answer.ok) return answer.result;
    const e = answer.result as { kind?: ErrorKind; error?: string } | null;
    throw new ControlError(e?.error ?? 'the leader refused', e?.kind ?? 'internal');
  }

  /** The leader's NOTIFY on fleetban_reply: fetch that answer now. */
  answered(payload: string): void {
    const id = Number(payload);
    const w = this.waiting.get(id);
    if (!w) return;
    void this.fetch(id).then((a) => a && w(a), () => undefined);
  }

  private async fetch(id: number): Promise<Answer | undefined> {
    const r = await this.pool.query<{ ok: boolean; result: unknown }>('SELECT ok, result FROM requests WHERE id = $1 AND ok IS NOT NULL', [id]);
    const row = r.rows[0];
    return row ? { ok: row.ok, result: row.result } : undefined;
  }

  /** The leader serves what is waiting; returns how many it served. */
  async serve(run: (verb: string, args: Record<string, unknown>) => Promise<unknown>): Promise<number> {
    const r = await this.pool.query<{ id: string; verb: string; args: Record<string, unknown> }>(
      `UPDATE requests SET done = true WHERE id IN (
         SELECT id FROM requests WHERE NOT done AND created > now() - make_interval(secs => $1)
          ORDER BY id LIMIT 20 FOR UPDATE SKIP LOCKED)
       RETURNING id, verb, args`,
      [STALE_S],
    );
    for (const q of r.rows) {
      let ok = true;
      let result: unknown;
      try {
        result = await run(q.verb, q.args ?? {});
      } catch (err) {
        ok = false;
        result = err instanceof ControlError ? { kind: err.kind, error: err.message } : { kind: 'internal', error: (err as Error).message };
      }
      await this.pool.query(`UPDATE requests SET ok = $2, result = $3::jsonb WHERE id = $1`, [q.id, ok, JSON.stringify(result ?? null)]);
      await this.pool.query(`SELECT pg_notify('fleetban_reply', $1)`, [q.id]);
    }
    return r.rows.length;
  }

  /** Forget answered requests (the leader, now and then). */
  async purge(): Promise<void> {
    await this.pool.query(`DELETE FROM requests WHERE created < now() - interval '10 minutes'`);
  }
}
