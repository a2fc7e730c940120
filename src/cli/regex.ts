import { CliError } from './exit-codes.js';
export interface RegexOptions { confDir: string; log: string; filter: string; json: boolean }
export async function regexCommand(_o: RegexOptions): Promise<number> {
  throw new CliError('regex: being built (issue 2)');
}
