import { CliError } from './exit-codes.js';
interface Base { confDir: string }
const todo = (): never => { throw new CliError('control verbs: being built (issue 5)'); };
export async function statusCommand(_o: Base & { jail?: string; json: boolean }): Promise<number> { return todo(); }
export async function bannedCommand(_o: Base & { json: boolean }): Promise<number> { return todo(); }
export async function hostsCommand(_o: Base & { json: boolean }): Promise<number> { return todo(); }
export async function banCommand(_o: Base & { jail: string; ip: string }): Promise<number> { return todo(); }
export async function unbanCommand(_o: Base & { jail?: string; ip: string }): Promise<number> { return todo(); }
export async function reloadCommand(_o: Base): Promise<number> { return todo(); }
