import { parentPort, workerData } from 'node:worker_threads';
import { loadFilter } from '../filters/filter.js';
import { HitTable } from './hit-table.js';
import { type FromWorker, rangeJson, scanRange, type SplitJob, type ToWorker } from './regex-split.js';

/**
 * A thread of a `fleetban regex` scan split across threads (see regex-split.ts):
 * it asks for ranges until there are none left, keeps the failures of each,
 * and prints their JSON once it is told how many lines come before each range.
 */
const job = workerData as SplitJob;
const port = parentPort!;
const filter = loadFilter(job.confDir, job.filter);
const tables = new Map<number, HitTable>();
const send = (m: FromWorker) => port.postMessage(m);

port.on('message', (m: ToWorker) => {
  if (m.kind === 'scan') {
    const hits = new HitTable();
    tables.set(m.range.index, hits);
    send({ kind: 'scanned', summary: scanRange(filter, job, m.range, hits) });
  } else if (m.kind === 'format') {
    send({ kind: 'json', parts: m.before.map(([i, before]) => [i, rangeJson(tables.get(i)!, before)]) });
    port.close();
  }
});
send({ kind: 'next' });
