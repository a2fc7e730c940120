import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** A headless Chromium with a fresh profile, and how to be rid of both. */
export interface Chromium {
  browser: BrowserContext;
  close(): Promise<void>;
}

/**
 * Debian's Chromium (/usr/bin/chromium), never a downloaded one, headless,
 * with a profile of its own, for the page's tests and bench/web.ts.
 * `bypassCSP` lets a caller evaluate its own probes (strings) in the page,
 * whose Content-Security-Policy forbids eval.
 */
export async function launchChromium(o: { bypassCSP?: boolean } = {}): Promise<Chromium> {
  const profile = mkdtempSync(join(tmpdir(), 'fleetban-chromium-'));
  try {
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1400, height: 1000 },
      bypassCSP: o.bypassCSP ?? false,
    });
    return {
      browser,
      close: async () => {
        await browser.close();
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
}
