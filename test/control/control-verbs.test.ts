import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { bannedCommand, banCommand, hostsCommand, reloadCommand, statusCommand, unbanCommand } from '../../src/cli/control-verbs.js';
import { CliError } from '../../src/cli/exit-codes.js';
import { readJails } from '../../src/config/jail-reader.js';
import { ControlServer } from '../../src/control/control-server.js';
import { registerJailHandlers } from '../../src/control/jail-handlers.js';
import { BanBook } from '../../src/bans/ban-book.js';
import { JailManager } from '../../src/jails/jail-manager.js';
import { CidrSet } from '../../src/net/cidr-set.js';
import { SqliteStateStore } from '../../src/state/sqlite-state-store.js';
import { recorder, silent } from '../jails/helpers.js';

const JAIL_CONF = `
[DEFAULT]
maxretry = 3
findtime = 10m
bantime = 1h
[vpopmail]
enabled = true
[courier-auth]
enabled = true
`;

let dir: string;
let state: SqliteStateStore;
let manager: JailManager;
let server: ControlServer;
const listener = recorder();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fleetban-ctl-'));
  writeFileSync(join(dir, 'fleetban.conf'), `[fleetban]\nstatedir = ${dir}/var\nsocket = %(statedir)s/fleetban.sock\n`);
  writeFileSync(join(dir, 'jail.conf'), JAIL_CONF);
  state = SqliteStateStore.open(join(dir, 'var', 'state.sqlite'));
  const book = new BanBook({ state, logger: silent, timers: false });
  book.subscribe(listener.hear);
  manager = new JailManager({ state, book, jails: readJails(dir), neverBan: new CidrSet(), logger: silent, timers: false });
  manager.start();
  server = new ControlServer({ path: join(dir, 'var', 'fleetban.sock'), logger: silent });
  registerJailHandlers(server, {
    jails: manager,
    book,
    ledger: state.ledger(),
    reload: () => manager.reload(readJails(dir)),
    statusSections: () => ({
      listeners: { 'udp 127.0.0.1:5514': { received: 12, parsed: 11, dropped: { 'not-allowed': 0, parse: 1 } } },
      // A section another part adds (the cluster's nodes): shown as a tree without a change to the renderer.
      nodes: [{ name: 'central-a', role: 'leader', lastSeen: Date.now() - 5000 }],
    }),
  });
  server.handle('hosts', () => [
    { name: 'mx1', address: '198.18.0.2', state: 'connected', connected: true, since: Date.now() - 3_720_000, pending: 0, applied: 1, failed: 0, lastError: null, lastErrorAt: null },
    { name: 'mx2', address: '198.18.0.6', state: 'waiting', connected: false, since: Date.now() - 65_000, pending: 2, applied: 0, failed: 0, lastError: 'connection refused', lastErrorAt: Date.parse('2025-03-01T12:00:00Z') },
  ]);
  await server.listen();
});

afterAll(async () => {
  await server.close();
  manager.stop();
  state.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Run a verb as the CLI would; returns its exit code and what it printed. */
async function run(verb: () => Promise<number>): Promise<{ code: number; out: string; message?: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  });
  try {
    return { code: await verb(), out };
  } catch (err) {
    if (err instanceof CliError) return { code: err.exitCode, out, message: err.message };
    throw err;
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => {
  for (const ip of ['203.0.113.7', '203.0.113.8']) {
    try {
      manager.unban(undefined, ip);
    } catch {
      // not banned
    }
  }
});

describe('fleetban ban / banned / unban', () => {
  it('bans by hand, lists the ban with its state on every host, and lifts it', async () => {
    const ban = await run(() => banCommand({ confDir: dir, jail: 'vpopmail', ip: '203.0.113.7' }));
    expect(ban.code).toBe(0);
    expect(ban.out).toMatch(/^Banned 203\.0\.113\.7 in vpopmail until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(scope fleet\)\n$/);
    // The fleet recorded it on two hosts.
    const led = state.db.prepare("INSERT INTO ledger (host, jail, ip, want, status, updated) VALUES (?, 'vpopmail', '203.0.113.7', 'ban', ?, 0)");
    led.run('mx1', 'applied');
    led.run('mx2', 'pending');

    const json = await run(() => bannedCommand({ confDir: dir, json: true }));
    expect(json.code).toBe(0);
    const list = JSON.parse(json.out) as unknown[];
    expect(list).toEqual([
      { jail: 'vpopmail', ip: '203.0.113.7', since: expect.any(String), until: expect.any(String), count: 1, hosts: { mx1: 'applied', mx2: 'pending' } },
    ]);
    const b = list[0] as { since: string; until: string };
    expect(Date.parse(b.until) - Date.parse(b.since)).toBe(3600_000);

    const human = await run(() => bannedCommand({ confDir: dir, json: false }));
    expect(human.out.split('\n')[0]).toMatch(/^JAIL\s+IP\s+SINCE\s+UNTIL\s+LEFT\s+COUNT\s+HOSTS$/);
    // Local times, the time left as a duration, the state on each host.
    expect(human.out).toMatch(/vpopmail\s+203\.0\.113\.7\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+(59m \d+s|1h 0m)\s+1\s+mx1=applied mx2=pending/);

    expect(await run(() => banCommand({ confDir: dir, jail: 'vpopmail', ip: '203.0.113.7' }))).toMatchObject({
      code: 0,
      out: expect.stringMatching(/already banned/),
    });
    expect(listener.bans.filter((d) => d.ip === '203.0.113.7')).toHaveLength(1);

    const unban = await run(() => unbanCommand({ confDir: dir, jail: 'vpopmail', ip: '203.0.113.7' }));
    expect(unban).toMatchObject({ code: 0, out: 'Unbanned 203.0.113.7 in vpopmail (1 ban lifted)\n' });
    expect(JSON.parse((await run(() => bannedCommand({ confDir: dir, json: true }))).out)).toEqual([]);
  });

  it('unban without a jail lifts the address in every jail', async () => {
    await run(() => banCommand({ confDir: dir, jail: 'vpopmail', ip: '203.0.113.8' }));
    await run(() => banCommand({ confDir: dir, jail: 'courier-auth', ip: '203.0.113.8' }));
    expect(await run(() => unbanCommand({ confDir: dir, ip: '203.0.113.8' }))).toMatchObject({ code: 0, out: expect.stringContaining('2 bans lifted') });
  });

  it('exits 1 for what is not so, 2 for what is malformed', async () => {
    expect(await run(() => unbanCommand({ confDir: dir, jail: 'vpopmail', ip: '203.0.113.99' }))).toMatchObject({
      code: 1,
      message: '203.0.113.99 is not banned in vpopmail',
    });
    expect(await run(() => banCommand({ confDir: dir, jail: 'sshd', ip: '203.0.113.99' }))).toMatchObject({
      code: 1,
      message: expect.stringContaining('no such jail: "sshd"'),
    });
    expect(await run(() => banCommand({ confDir: dir, jail: 'vpopmail', ip: '203.0.113.999' }))).toMatchObject({
      code: 2,
      message: 'not an IP address: "203.0.113.999"',
    });
    expect(await run(() => banCommand({ confDir: dir, jail: 'vpopmail', ip: '127.0.0.1' }))).toMatchObject({
      code: 1,
      message: expect.stringContaining('never banned'),
    });
  });
});

describe('fleetban status', () => {
  it('shows one jail as fail2ban-client does', async () => {
    await run(() => banCommand({ confDir: dir, jail: 'vpopmail', ip: '203.0.113.7' }));
    const r = await run(() => statusCommand({ confDir: dir, jail: 'vpopmail', json: false }));
    expect(r.code).toBe(0);
    expect(r.out).toContain('Status for the jail: vpopmail\n|- Filter\n');
    expect(r.out).toMatch(/Currently banned: 1\n/);
    expect(r.out).toMatch(/Banned IP list:\s+203\.0\.113\.7\n/);
    expect(r.out).toMatch(/Ban time:\s+1h \(3 failures within 10m\)/);
    const json = JSON.parse((await run(() => statusCommand({ confDir: dir, jail: 'vpopmail', json: true }))).out);
    expect(json).toMatchObject({ jail: 'vpopmail', currentlyBanned: 1, bannedIps: ['203.0.113.7'] });
  });

  it('shows every jail, with the sections the service adds', async () => {
    const r = await run(() => statusCommand({ confDir: dir, json: false }));
    // fail2ban-client's tree first...
    expect(r.out).toMatch(/^Status\n\|- Number of jail:\s+2\n\|- Jail list:\s+vpopmail, courier-auth\n/);
    expect(r.out).toMatch(/\|- Listeners:\s+1\n\|  `- udp 127\.0\.0\.1:5514: received 12, parsed 11, dropped 1 \(parse 1\)\n/);
    expect(r.out).toMatch(/`- Nodes:\s+1\n   `- central-a\n      \|- Role:\s+leader\n      `- Last seen: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(5s ago\)\n/);
    expect(r.out).not.toContain('{');
    // ... then one line per jail.
    expect(r.out).toMatch(/\nJAIL\s+FILTER\s+FAILED/);
    expect(r.out).toMatch(/\ncourier-auth\s+courier-auth\s+0\s+0\s+0\s+\d+\s+0\s+fleet\n/);
    const json = JSON.parse((await run(() => statusCommand({ confDir: dir, json: true }))).out);
    expect(json.jails.map((j: { jail: string }) => j.jail)).toEqual(['vpopmail', 'courier-auth']);
    expect(Object.keys(json.listeners)).toEqual(['udp 127.0.0.1:5514']);
  });

  it('an unknown jail exits 1', async () => {
    expect(await run(() => statusCommand({ confDir: dir, jail: 'nosuch', json: false }))).toMatchObject({ code: 1 });
  });
});

describe('fleetban hosts', () => {
  it("prints the fleet's answer as a table or as JSON", async () => {
    const r = await run(() => hostsCommand({ confDir: dir, json: false }));
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(/^NAME\s+ADDRESS\s+STATE\s+FOR\s+PENDING\s+APPLIED\s+FAILED\s+LAST ERROR$/);
    expect(lines[1]).toMatch(/^mx1\s+198\.18\.0\.2\s+connected\s+1h 2m\s+0\s+1\s+0\s+-$/);
    // Times in the local zone, never milliseconds since 1970.
    expect(lines[2]).toMatch(/^mx2\s+198\.18\.0\.6\s+waiting\s+1m 5s\s+2\s+0\s+0\s+2025-03-0[12] \d\d:00:00 connection refused$/);
    expect(r.out).not.toMatch(/\d{13}/);
    expect(JSON.parse((await run(() => hostsCommand({ confDir: dir, json: true }))).out)[0].name).toBe('mx1');
  });
});

describe('fleetban reload', () => {
  it('re-reads the jails, keeping bans of the jails that remain', async () => {
    await run(() => banCommand({ confDir: dir, jail: 'vpopmail', ip: '203.0.113.7' }));
    writeFileSync(join(dir, 'jail.local'), '[courier-smtp]\nenabled = true\n[vpopmail]\nmaxretry = 7\n');
    try {
      const r = await run(() => reloadCommand({ confDir: dir }));
      expect(r.code).toBe(0);
      expect(manager.jailNames().sort()).toEqual(['courier-auth', 'courier-smtp', 'vpopmail']);
      const s = JSON.parse((await run(() => statusCommand({ confDir: dir, jail: 'vpopmail', json: true }))).out);
      expect(s).toMatchObject({ maxRetry: 7, bannedIps: ['203.0.113.7'] });
    } finally {
      rmSync(join(dir, 'jail.local'));
      manager.reload(readJails(dir));
    }
  });
});

describe('fleetban reload with a mistake', () => {
  it('exits 2 naming the file, line and key, and keeps the running jails', async () => {
    writeFileSync(join(dir, 'jail.local'), '[vpopmail]\nmaxretry = lots\n');
    try {
      const r = await run(() => reloadCommand({ confDir: dir }));
      expect(r).toMatchObject({ code: 2, message: `${join(dir, 'jail.local')}:2: [vpopmail] maxretry: expected a whole number from 1 to 1000, not "lots"` });
      expect(manager.jailNames()).toEqual(['vpopmail', 'courier-auth']);
    } finally {
      rmSync(join(dir, 'jail.local'));
    }
  });
});

describe('the control socket', () => {
  it('is mode 0600', () => {
    expect(statSync(join(dir, 'var', 'fleetban.sock')).mode & 0o777).toBe(0o600);
  });

  it('answers malformed requests with an error and goes on', async () => {
    const answers = await rawExchange(join(dir, 'var', 'fleetban.sock'), 'not json\n{"id":5,"verb":"explode"}\n{"id":6,"verb":"banned"}\n', 3);
    expect(answers[0]).toMatchObject({ ok: false, kind: 'usage', error: expect.stringContaining('malformed request') });
    expect(answers[1]).toMatchObject({ id: 5, ok: false, kind: 'usage', error: 'the service does not answer "explode"' });
    expect(answers[2]).toMatchObject({ id: 6, ok: true });
  });

  it('refuses an endless request line', async () => {
    const answers = await rawExchange(join(dir, 'var', 'fleetban.sock'), 'x'.repeat(200_000), 1);
    expect(answers[0]).toMatchObject({ ok: false, error: expect.stringContaining('longer than') });
  });

  it('will not start a second service on a socket where one answers, but replaces a dead one', async () => {
    const second = new ControlServer({ path: join(dir, 'var', 'fleetban.sock'), logger: silent });
    await expect(second.listen()).rejects.toThrow(/already running/);
    // A socket file left by a service that was killed:
    const deadDir = mkdtempSync(join(tmpdir(), 'fleetban-dead-'));
    try {
      const path = join(deadDir, 'fleetban.sock');
      const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise((r) => child.stdout.once('data', r));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      expect(statSync(path).isSocket()).toBe(true);
      const fresh = new ControlServer({ path, logger: silent });
      await fresh.listen();
      await fresh.close();
    } finally {
      rmSync(deadDir, { recursive: true, force: true });
    }
  });
});

describe('the fleetban binary against the socket', () => {
  const cli = (...args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (b: Buffer) => (out += b.toString()));
      p.stderr.on('data', (b: Buffer) => (err += b.toString()));
      p.on('exit', (code) => resolve({ code, out, err }));
    });

  it('exits 0, 1 and 1 for a jail, an unknown jail and a service that is not running', async () => {
    const [ok, unknown] = await Promise.all([cli('-c', dir, 'status', 'vpopmail'), cli('-c', dir, 'status', 'nosuch')]);
    expect(ok).toMatchObject({ code: 0, out: expect.stringContaining('Status for the jail: vpopmail') });
    expect(unknown).toMatchObject({ code: 1, err: expect.stringContaining('no such jail: "nosuch"') });
    const nowhere = mkdtempSync(join(tmpdir(), 'fleetban-none-'));
    try {
      writeFileSync(join(nowhere, 'fleetban.conf'), `[fleetban]\nsocket = ${nowhere}/fleetban.sock\n`);
      const down = await cli('-c', nowhere, 'banned');
      expect(down).toMatchObject({ code: 1, err: `fleetban: fleetban is not running (nothing answers on ${nowhere}/fleetban.sock)\n` });
    } finally {
      rmSync(nowhere, { recursive: true, force: true });
    }
  });
});

/** Write raw bytes to the socket and collect `n` answer lines. */
function rawExchange(path: string, text: string, n: number): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`timed out; got ${JSON.stringify(buf)}`));
    }, 5000);
    c.on('data', (b) => {
      buf += b.toString();
      const lines = buf.split('\n').filter(Boolean);
      if (lines.length >= n) {
        clearTimeout(timer);
        c.destroy();
        resolve(lines.map((l) => JSON.parse(l) as Record<string, unknown>));
      }
    });
    c.on('error', () => {});
    c.write(text);
  });
}
