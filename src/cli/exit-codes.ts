/** fleetban's exit codes, the same for every verb (docs/ARCHITECTURE.md). */
export const EXIT_OK = 0;
/** The thing asked about is not so: unknown jail, ip not banned, service not running. */
export const EXIT_NOT_SO = 1;
/** Usage or configuration error; the message names the file, line and key. */
export const EXIT_USAGE = 2;

/** An error that ends the command with a message and a given exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_USAGE,
  ) {
    super(message);
  }
}
