/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Poll until `check` returns true, or fail after `ms`. `check` may return a
 * string instead of false: what it saw, for the failure message.
 */
export async function waitFor(
  what: string,
  check: () => true | false | string | Promise<true | false | string>,
  ms = 15_000,
  every = 25,
): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v === true) return;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await sleep(every);
  }
}
