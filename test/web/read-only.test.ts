import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, removeConfDir, ServiceProcess, testConfDir } from '../helpers/service-process.js';
import { missing } from '../helpers/requirements.js';
import { launchChromium, type Chromium } from './chromium.js';

// Ports of this suite: 15650-15654.
const HTTP_LOGIN = 15651;
const HTTP_OPEN = 15652;
const TOKEN = 'read-only-but-logged-in-0042';
const ATTACKER = '203.0.113.77';

function bannedIps(conf: string): string[] {
  const r = cli(conf, 'banned', '--json');
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { ip: string }[]).map((b) => b.ip);
}

/** A write as a script (not the page) would send it, with whatever credentials it has. */
function post(base: string, path: '/api/unban' | '/api/ban', headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: base, ...headers },
    body: JSON.stringify({ jail: 'vpopmail', ip: path === '/api/unban' ? ATTACKER : '203.0.113.78' }),
  });
}

/** The overview shows the ban (so the table is filled) and what else is on the page. */
async function overviewControls(page: Page): Promise<{ unban: number; banForm: number }> {
  await page.waitForSelector(`#active-bans a[href="#attacker/${ATTACKER}"]`, { timeout: 15_000 });
  return { unban: await page.locator('button[data-unban]').count(), banForm: await page.locator('#ban-form').count() };
}

describe.skipIf(missing('read-only status page in a browser', { root: true, commands: ['chromium'] }))('the status page read-only (the default)', () => {
  let login: string;
  let open: string;
  let secrets: string;
  const services: ServiceProcess[] = [];
  let chrome: Chromium;

  beforeAll(async () => {
    secrets = mkdtempSync(join(tmpdir(), 'fleetban-web-token-'));
    writeFileSync(join(secrets, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    // A login, but writes left off: an administrator who wants the page and not its buttons.
    login = testConfDir({ metrics: HTTP_LOGIN, files: { 'fleetban.d/web.local': `[web]\ntoken_file = ${join(secrets, 'token')}\n` } });
    // The shipped configuration: loopback, no login, no writes.
    open = testConfDir({ metrics: HTTP_OPEN });
    for (const conf of [login, open]) {
      services.push(await ServiceProcess.start(conf));
      const r = cli(conf, 'ban', 'vpopmail', ATTACKER);
      expect(r.code, r.stderr).toBe(0);
    }
    chrome = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await chrome?.close();
    for (const s of services) await s.stop();
    for (const conf of [login, open]) if (conf) removeConfDir(conf);
    rmSync(secrets, { recursive: true, force: true });
  });

  it('shows bans to a logged-in administrator with no ban or unban button', async () => {
    const base = `http://127.0.0.1:${HTTP_LOGIN}`;
    const page = await chrome.browser.newPage();
    await page.goto(base);
    await page.fill('#token', TOKEN);
    await page.click('#login-form button');
    await page.waitForSelector('#ban-cards');
    expect(await page.textContent('body')).toContain('logged in · read-only');
    expect(await overviewControls(page)).toEqual({ unban: 0, banForm: 0 });
    // The address's own view lists the ban in force, without its Unban button either.
    await page.click(`#active-bans a[href="#attacker/${ATTACKER}"]`);
    // A selector, not a string predicate: the page's CSP forbids the eval a polling predicate needs.
    await page.waitForSelector('#attacker-bans tbody:has-text("vpopmail")', { timeout: 15_000 });
    expect(await page.locator('button[data-unban]').count()).toBe(0);
    await page.close();
  });

  it('refuses an unban and a ban with a session and its CSRF token, and without any', async () => {
    const base = `http://127.0.0.1:${HTTP_LOGIN}`;
    expect((await post(base, '/api/unban')).status).toBe(401);
    const r = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: base }, body: JSON.stringify({ token: TOKEN }) });
    expect(r.status).toBe(200);
    const cookie = r.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const { csrf, writes } = (await r.json()) as { csrf: string; writes: boolean };
    expect(writes).toBe(false);
    const unban = await post(base, '/api/unban', { cookie, 'x-fleetban-csrf': csrf });
    expect(unban.status).toBe(403);
    expect(((await unban.json()) as { error: string }).error).toMatch(/read-only/);
    expect((await post(base, '/api/ban', { cookie, 'x-fleetban-csrf': csrf })).status).toBe(403);
    expect(bannedIps(login)).toEqual([ATTACKER]);
  });

  it('without a token file: nothing to log in to, no buttons, and every write refused', async () => {
    const base = `http://127.0.0.1:${HTTP_OPEN}`;
    const page = await chrome.browser.newPage();
    await page.goto(base);
    await page.waitForSelector('#ban-cards');
    expect(await page.locator('#login-form').count()).toBe(0);
    expect(await overviewControls(page)).toEqual({ unban: 0, banForm: 0 });
    await page.close();
    for (const path of ['/api/unban', '/api/ban'] as const) expect((await post(base, path)).status).toBe(403);
    expect(bannedIps(open)).toEqual([ATTACKER]);
  });
});

describe('the status page off loopback', () => {
  let conf: string;
  afterAll(() => conf && removeConfDir(conf));

  it('is a configuration error without a login, and a warning of check-config when allow_anonymous says so', () => {
    conf = testConfDir({ files: { 'fleetban.d/web.local': '[web]\nlisten = 0.0.0.0:15653\n' } });
    const refused = cli(conf, 'check-config');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/fleetban\.d\/web\.local:2: \[web\] listen: .*0\.0\.0\.0:15653 \(not loopback\) needs token_file/);
    // `fleetban run` reads the same configuration: it does not start either.
    expect(cli(conf, 'run').code).toBe(2);

    writeFileSync(join(conf, 'fleetban.d/web.local'), '[web]\nlisten = 0.0.0.0:15653\nallow_anonymous = yes\n');
    const warned = cli(conf, 'check-config');
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stdout + warned.stderr).toMatch(/allow_anonymous = yes: the status page on 0\.0\.0\.0:15653 shows every attacker/);
  });
});
