import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, removeConfDir, ROOT, ServiceProcess, testConfDir } from '../helpers/service-process.js';
import { missing } from '../helpers/requirements.js';
import { waitFor } from '../helpers/wait.js';
import { launchChromium, type Chromium } from './chromium.js';

// Ports of this suite: 15640-15649.
const SYSLOG = 15641;
const HTTP = 15642;
const BASE = `http://127.0.0.1:${HTTP}`;
const TOKEN = 'correct-horse-battery-staple-42';
const ATTACKER = '203.0.113.60';
/** Screenshots for a human to look at (gitignored). */
const ARTIFACTS = join(ROOT, 'test-artifacts', 'web');

/**
 * A vchkpw failure as mail server `host` would send it: logger in a UTS
 * namespace of its own, so the syslog HOSTNAME (the origin) is that host's.
 */
function failureFrom(host: string, user: string, password: string): void {
  execFileSync('unshare', [
    '--uts', 'sh', '-c', 'hostname "$1"; shift; exec logger "$@"', 'sh', host,
    '--udp', '--server', '127.0.0.1', '--port', String(SYSLOG), '--rfc3164', '-t', 'vpopmail', '-i',
    `vchkpw-pop3: password fail (pass: '${password}') ${user}:${ATTACKER}`,
  ]);
}

function bannedIps(conf: string): string[] {
  const r = cli(conf, 'banned', '--json');
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { ip: string }[]).map((b) => b.ip);
}

/** Pixels of a canvas that are not fully transparent. */
async function paintedPixels(page: Page, selector: string): Promise<number> {
  // Run in the page (a string: these tests are typed without the DOM library).
  return page.evaluate(`(() => {
    const c = document.querySelector(${JSON.stringify(selector)});
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  })()`);
}

/** True in the page once the plot in `holder` has drawn points above zero. */
// Waits go through Playwright's selectors, not page.waitForFunction with a string: the page's
// Content-Security-Policy forbids eval, which a string predicate needs once it has to poll.
/** The plot in `holder` has drawn points (plots.js writes how many in data-points). */
const plotted = (holder: string) => `${holder}[data-points]:not([data-points="0"])`;

describe.skipIf(missing('status page in a browser', { root: true, commands: ['chromium', 'logger', 'unshare'] }))('the status page in headless Chromium', () => {
  let conf: string;
  let svc: ServiceProcess;
  let chrome: Chromium;
  let browser: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    const secrets = mkdtempSync(join(tmpdir(), 'fleetban-web-token-'));
    writeFileSync(join(secrets, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    conf = testConfDir({
      udp: SYSLOG,
      metrics: HTTP,
      files: { 'fleetban.d/web.local': `[web]\nwrites = yes\ntoken_file = ${join(secrets, 'token')}\n` },
    });
    svc = await ServiceProcess.start(conf);
    // The test's own probes are evaluated in the page; the page's CSP (checked below) forbids eval.
    chrome = await launchChromium({ bypassCSP: true });
    browser = chrome.browser;
    page = await browser.newPage();
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await chrome?.close();
    await svc?.stop();
    removeConfDir(conf);
  });

  it('asks for the token before showing anything, and refuses a wrong one', async () => {
    expect((await fetch(`${BASE}/api/overview`)).status).toBe(401);
    expect((await fetch(`${BASE}/api/attackers`)).status).toBe(401);
    // Everything from this host, nothing inline: an attacker's log line cannot become script.
    expect((await fetch(BASE)).headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    await page.goto(BASE);
    await page.waitForSelector('#login-form');
    await page.fill('#token', 'not-the-token-at-all');
    await page.click('#login-form button');
    await page.waitForSelector('#login-error:text-is("wrong token")');
    await page.fill('#token', TOKEN);
    await page.click('#login-form button');
    await page.waitForSelector('#ban-cards');
  });

  it('shows a ban as it happens, without a reload, and plots the failures', async () => {
    // The page is open; the attacker tries two mail servers with five user names.
    await page.evaluate("window.marker = 'same page'");
    for (let i = 0; i < 5; i++) failureFrom(i % 2 === 0 ? 'mx1' : 'mx2', `user${i}@example.com`, `secret-${i}`);
    await waitFor('the ban', () => bannedIps(conf).includes(ATTACKER));
    await page.waitForSelector(`#active-bans a[href="#attacker/${ATTACKER}"]`, { timeout: 15_000 });
    expect(await page.evaluate('window.marker')).toBe('same page');

    await page.waitForSelector(plotted('#plot-failures'), { timeout: 15_000 });
    await page.waitForSelector(plotted('#plot-bans'), { timeout: 15_000 });
    expect(await paintedPixels(page, '#plot-failures canvas')).toBeGreaterThan(500);
    const cards = await page.textContent('#ban-cards');
    expect(cards).toMatch(/1\s*active bans/i);
    await page.screenshot({ path: join(ARTIFACTS, 'overview.png'), fullPage: true });
  });

  it("lists the attacker with the servers and user names it tried, and never a password", async () => {
    await page.click('nav a[href="#attackers"]');
    await page.waitForSelector(`#attackers a[href="#attacker/${ATTACKER}"]`);
    const row = await page.textContent('#attackers tbody');
    expect(row).toContain('user0@example.com');
    await page.screenshot({ path: join(ARTIFACTS, 'attackers.png'), fullPage: true });

    await page.click(`#attackers a[href="#attacker/${ATTACKER}"]`);
    await page.waitForSelector('#attacker-servers');
    const servers = await page.textContent('#attacker-servers');
    expect(servers).toContain('mx1');
    expect(servers).toContain('mx2');
    const users = await page.textContent('#attacker-users');
    for (let i = 0; i < 5; i++) expect(users).toContain(`user${i}@example.com`);
    await page.waitForSelector('#attacker-lines .line');
    const lines = await page.$$eval('#attacker-lines .line', (els) => els.map((e) => e.textContent ?? ''));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).toContain("(pass: '***')");
    const everything = (await page.content()) + JSON.stringify(await (await page.request.get(`${BASE}/api/attacker?ip=${ATTACKER}`)).json());
    expect(everything).not.toMatch(/secret-\d/);
    await page.screenshot({ path: join(ARTIFACTS, 'attacker.png'), fullPage: true });
  });

  it('refuses a write without a session, without the CSRF header, or from another site', async () => {
    const cookies = await browser.cookies(BASE);
    const session = cookies.find((c) => c.name === 'fleetban_session')!;
    expect(session.httpOnly).toBe(true);
    const post = (headers: Record<string, string>) =>
      fetch(`${BASE}/api/unban`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ jail: 'vpopmail', ip: ATTACKER }) });
    expect((await post({})).status).toBe(401);
    expect((await post({ cookie: `fleetban_session=${session.value}` })).status).toBe(403);
    expect((await post({ cookie: `fleetban_session=${session.value}`, 'x-fleetban-csrf': 'guessed' })).status).toBe(403);
    const csrf = (await page.evaluate("fetch('/api/session').then((r) => r.json())") as { csrf: string }).csrf;
    expect((await post({ cookie: `fleetban_session=${session.value}`, 'x-fleetban-csrf': csrf, origin: 'http://evil.example' })).status).toBe(403);
    // A plain HTML form can only send form encodings: refused whatever else it carries.
    const form = await fetch(`${BASE}/api/unban`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `fleetban_session=${session.value}` }, body: `jail=vpopmail&ip=${ATTACKER}` });
    expect(form.status).toBeGreaterThanOrEqual(400);
    expect(bannedIps(conf)).toContain(ATTACKER);
  });

  it('lifts the ban from the page, as fleetban unban does', async () => {
    await page.click('nav a[href="#overview"]');
    const button = `#active-bans button[data-unban="vpopmail ${ATTACKER}"]`;
    await page.waitForSelector(button);
    await page.click(button);
    await waitFor('the unban', () => !bannedIps(conf).includes(ATTACKER));
    await page.waitForSelector(`#active-bans a[href="#attacker/${ATTACKER}"]`, { state: 'detached', timeout: 15_000 });
    expect(svc.lines.some((l) => l.msg === 'status page write' && l.verb === 'unban')).toBe(true);
    await page.click('nav a[href="#listeners"]');
    await page.waitForSelector(plotted('#plot-received'), { timeout: 15_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'listeners.png'), fullPage: true });
    await page.click('nav a[href="#ingest"]');
    await page.waitForSelector('#senders tbody');
    await page.screenshot({ path: join(ARTIFACTS, 'ingest.png'), fullPage: true });
  });
});
