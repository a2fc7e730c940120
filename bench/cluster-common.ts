/**
 * What the cluster benchmarks share beyond test/helpers/cluster-nodes.ts:
 * the command line.
 */

/** `--name value` from the command line, or the fallback. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
}

/** Print `usage` and exit when --help is given. */
export function helpOr(usage: string): void {
  if (process.argv.includes('--help')) {
    console.log(usage.trim());
    process.exit(0);
  }
}
