import { CliError } from './exit-codes.js';
export async function runCommand(_o: { confDir: string }): Promise<number> {
  throw new CliError('run: being built');
}
