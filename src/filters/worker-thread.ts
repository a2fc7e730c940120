import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Start the worker thread whose module is `name` beside the caller (`from`:
 * the caller's import.meta.url). Built, that is the .js file. From the
 * sources under tsx (the tests, `npx tsx`), it is the .ts file; on Node 20 a
 * worker's entry does not go through the loader its process started with,
 * and `execArgv: ['--import', 'tsx']` does not apply it either, so the
 * thread registers tsx itself before importing the module.
 */
export function startWorkerThread(name: string, from: string, options: WorkerOptions = {}): Worker {
  if (!from.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, from), options);
  const entry = new URL(`./${name}.ts`, from).href;
  const code = `import('tsx/esm/api').then((m) => m.register()).then(() => import(${JSON.stringify(entry)}))`;
  return new Worker(code, { ...options, eval: true });
}
