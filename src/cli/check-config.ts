import { CliError } from './exit-codes.js';
export async function checkConfigCommand(_o: { confDir: string }): Promise<number> {
  throw new CliError('check-config: being built');
}
