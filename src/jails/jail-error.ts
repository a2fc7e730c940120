/** A request about jails that cannot be done; `kind` tells the control socket how to answer. */
export class JailError extends Error {
  constructor(
    message: string,
    readonly kind: 'unknown-jail' | 'invalid-ip' | 'never-ban',
  ) {
    super(message);
  }
}
