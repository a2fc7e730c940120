/**
 * The control socket's protocol: one JSON object per line each way.
 *
 *   -> {"id":1,"verb":"unban","args":{"jail":"vpopmail","ip":"203.0.113.7"}}
 *   <- {"id":1,"ok":true,"result":{"lifted":1}}
 *   <- {"id":1,"ok":false,"kind":"not-so","error":"203.0.113.7 is not banned in vpopmail"}
 *
 * `kind` tells the CLI its exit code: `not-so` (1: unknown jail, address not
 * banned), `usage` (2: a malformed request), `internal` (the service failed),
 * `busy` (1: the service is running but refused this connection, or closed
 * it: too many control connections, or too many requests on one).
 */
export interface ControlRequest {
  id: number;
  verb: string;
  args?: Record<string, unknown>;
}

export type ErrorKind = 'not-so' | 'usage' | 'internal' | 'busy';

export type ControlResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; kind: ErrorKind; error: string };

/** Thrown by a handler to answer with an error the CLI shows as is. */
export class ControlError extends Error {
  constructor(
    message: string,
    readonly kind: ErrorKind = 'not-so',
  ) {
    super(message);
  }
}

/** Longest request line the service reads; requests are a few hundred bytes. */
export const MAX_REQUEST = 64 * 1024;

/** Read a string argument; a missing or mistyped one is a usage error. */
export function stringArg(args: Record<string, unknown> | undefined, name: string): string {
  const v = args?.[name];
  if (typeof v !== 'string' || v.length === 0) throw new ControlError(`missing argument: ${name}`, 'usage');
  return v;
}

export function optionalStringArg(args: Record<string, unknown> | undefined, name: string): string | undefined {
  const v = args?.[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ControlError(`argument ${name} must be a string`, 'usage');
  return v;
}
