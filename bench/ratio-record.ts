/**
 * The regression check of the benchmarks: each benchmark states its ratios
 * to its peer (measured side by side in the same run), and this module
 * compares them with the last recorded figures in bench/ratios.json. A
 * ratio more than 20% worse than the recorded one prints a WARNING line;
 * nothing fails (a busy machine can do that to a ratio too: rerun first).
 *
 * `--record` (on the benchmark's command line) writes the figures of this
 * run into bench/ratios.json, to be committed with the change that earned
 * them. Ratios are stated so that higher is better (for times: peer's time
 * divided by fleetban's).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';

const FILE = join(import.meta.dirname, 'ratios.json');
/** How much worse than recorded a ratio may be before the warning. */
const TOLERANCE = 0.2;

export interface RecordedRatio {
  /** fleetban's figure over the peer's (or the peer's time over fleetban's): higher is better. */
  ratio: number;
  /** What the ratio compares, in words (for whoever reads the JSON). */
  what: string;
  /** When and under what load it was recorded. */
  date: string;
  load: string;
}

type Recorded = Record<string, RecordedRatio>;

function read(): Recorded {
  if (!existsSync(FILE)) return {};
  return JSON.parse(readFileSync(FILE, 'utf8')) as Recorded;
}

export function machineLoad(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/**
 * Prints each ratio beside its recorded figure, warns on a drop of more
 * than 20%, and records them with `--record`.
 */
export function checkRatios(figures: Record<string, { ratio: number; what: string }>): void {
  const recorded = read();
  const load = machineLoad();
  console.log(`\nratios (higher is better), load average ${load}:`);
  for (const [key, f] of Object.entries(figures)) {
    const last = recorded[key];
    const was = last ? `  (recorded ${last.ratio.toFixed(2)} on ${last.date.slice(0, 10)}, load ${last.load})` : '  (none recorded)';
    console.log(`  ${key.padEnd(34)} ${f.ratio.toFixed(2).padStart(8)}${was}`);
    if (last && Number.isFinite(f.ratio) && f.ratio < last.ratio * (1 - TOLERANCE)) {
      console.log(
        `WARNING: ${key} is ${f.ratio.toFixed(2)}, more than ${TOLERANCE * 100}% below the recorded ${last.ratio.toFixed(2)} (${f.what}); rerun on a quieter machine before believing it`,
      );
    }
  }
  if (process.argv.includes('--record')) {
    const date = new Date().toISOString();
    for (const [key, f] of Object.entries(figures)) {
      if (Number.isFinite(f.ratio)) recorded[key] = { ratio: Math.round(f.ratio * 1000) / 1000, what: f.what, date, load };
    }
    writeFileSync(FILE, JSON.stringify(recorded, null, 2) + '\n');
    console.log(`recorded in bench/ratios.json`);
  }
}

/** The median of a list of numbers (the figure to quote: one lucky or slow run does not move it). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
