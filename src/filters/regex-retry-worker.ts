import { parentPort } from 'node:worker_threads';
import type { FilterDefinition } from '../config/filter-reader.js';
import { Filter, type FilterResult } from './filter.js';
import { RETRY_CPU_MS, runWithCpuBudget } from './regex-guard.js';
import type { RetryAnswer, RetryReply, RetryRequest } from './regex-retry.js';

/**
 * The retry worker's thread (see regex-retry.ts): compiles each filter it is
 * sent once, and matches one event at a time with RETRY_CPU_MS of this
 * thread's CPU time.
 */

/** Compiled filters, newest last; old ones (replaced by a reload) drop out. */
const filters = new Map<number, Filter>();
const KEEP = 64;

function filterFor(id: number, defs: [FilterDefinition, FilterDefinition] | undefined): Filter {
  let f = filters.get(id);
  if (f) return f;
  if (!defs) throw new Error(`filter ${id} unknown to the retry worker`);
  f = new Filter(defs[0], defs[1]);
  filters.set(id, f);
  if (filters.size > KEEP) filters.delete(filters.keys().next().value!);
  return f;
}

parentPort!.on('message', (req: RetryRequest) => {
  const reply: RetryReply = { id: req.id };
  try {
    const f = filterFor(req.filter, req.defs);
    const answer: RetryAnswer = {};
    f.lossLog = {
      ambiguous: (candidates, line) => {
        answer.ambiguous = { candidates: [...candidates], line };
      },
      lost: (kind, detail) => {
        if (kind === 'tooLong') answer.tooLong = detail;
      },
    };
    let result: FilterResult | undefined;
    const hostNamesBefore = f.losses.hostName;
    const ok = runWithCpuBudget(() => {
      delete answer.ambiguous;
      delete answer.tooLong;
      result = f.matchEvent(req.event);
    }, RETRY_CPU_MS);
    if (ok) answer.result = result;
    if (ok && f.losses.hostName > hostNamesBefore) answer.hostName = true;
    else {
      delete answer.ambiguous;
      delete answer.tooLong;
    }
    reply.answer = answer;
  } catch (err) {
    reply.error = (err as Error).message;
  }
  parentPort!.postMessage(reply);
});
