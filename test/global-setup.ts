import { ensureBuilt } from './helpers/build.js';

export default function setup(): void {
  ensureBuilt();
}
