import { parentPort, workerData } from 'node:worker_threads';
import { loadFilter } from '../filters/filter.js';
import { type PartJob, scanPart } from './regex-split.js';

/** One range of a `fleetban regex` scan split across threads (see regex-split.ts). */
const job = workerData as PartJob;
const r = scanPart(loadFilter(job.confDir, job.filter), job);
parentPort!.postMessage(r);
