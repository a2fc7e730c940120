import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readServiceConfig } from '../../src/config/service-reader.js';

const tmp = mkdtempSync(join(tmpdir(), 'fleetban-svc-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('fleetban.conf', () => {
  it('ships defaults that listen on loopback 5514 and keep state under ./var', () => {
    const cfg = readServiceConfig('conf');
    expect(cfg.listen.udp).toEqual([{ host: '127.0.0.1', port: 5514 }]);
    expect(cfg.listen.tcp).toEqual([{ host: '127.0.0.1', port: 5514 }]);
    expect(cfg.listen.tls).toEqual([]);
    expect(cfg.stateDir).toBe(resolve('var'));
    expect(cfg.socket).toBe(resolve('var/fleetban.sock'));
    expect(cfg.listen.maxFrame).toBe(65536);
    expect(cfg.listen.recvBufferSize).toBe(4 * 1024 * 1024);
    expect(cfg.journal.enabled).toBe('auto');
    expect(cfg.metrics.listen).toEqual({ host: '127.0.0.1', port: 9514 });
    expect(cfg.state.backend).toBe('sqlite');
    expect(cfg.state.url).toBeUndefined();
    expect(cfg.state.node.length).toBeGreaterThan(0);
  });

  it('chooses the PostgreSQL state with a socket folder URL as written, and a node name', () => {
    const dir = mkdtempSync(join(tmp, 's-'));
    writeFileSync(
      join(dir, 'fleetban.conf'),
      '[state]\nbackend = postgresql\nurl = postgresql://fleetban@%2Frun%2Fpostgresql/fleetban\nnode = central-b\n',
    );
    expect(readServiceConfig(dir).state).toEqual({
      backend: 'postgresql',
      url: 'postgresql://fleetban@%2Frun%2Fpostgresql/fleetban',
      node: 'central-b',
      leaseMs: 3000,
      standaloneMs: 60_000,
    });
  });

  it('lets fleetban.local change single keys, IPv6 listeners included', () => {
    const dir = mkdtempSync(join(tmp, 'c-'));
    writeFileSync(join(dir, 'fleetban.conf'), '[fleetban]\nstatedir = /var/lib/fleetban\n[listen]\nudp = 127.0.0.1:5514\n');
    writeFileSync(join(dir, 'fleetban.local'), '[listen]\nudp = 0.0.0.0:514, [::]:514\nallowed_senders = 198.18.0.0/15 2001:db8::/32\n');
    const cfg = readServiceConfig(dir);
    expect(cfg.listen.udp).toEqual([{ host: '0.0.0.0', port: 514 }, { host: '::', port: 514 }]);
    expect(cfg.listen.allowedSenders).toEqual(['198.18.0.0/15', '2001:db8::/32']);
    expect(cfg.socket).toBe('/var/lib/fleetban/fleetban.sock');
  });

  it.each([
    ['[listen]\nudp = localhost\n', /fleetban\.conf:2: \[listen\] udp: expected host:port/],
    ['[listen]\nmaxframe = big\n', /fleetban\.conf:2: \[listen\] maxframe: expected a size/],
    ['[fleetban]\nloglevel = loud\n', /fleetban\.conf:2: \[fleetban\] loglevel: expected one of trace/],
    ['[listen]\nallowed_senders = 10.0.0.0/33\n', /\[listen\] allowed_senders: expected an address or CIDR, not "10.0.0.0\/33"/],
    ['[listen]\ntimezone = 198.18.0.0/16=Mars/Olympus\n', /fleetban\.conf:2: \[listen\] timezone: unknown time zone "Mars\/Olympus"/],
    ['[listen]\ntls = 127.0.0.1:6514\n', /\[listen\] tls: TLS listeners need tls.cert and tls.key/],
    ['[state]\nbackend = mysql\n', /fleetban\.conf:2: \[state\] backend: expected one of sqlite, postgresql/],
    ['[state]\nbackend = postgresql\n', /fleetban\.conf:2: \[state\] backend: backend = postgresql needs url/],
    ['[state]\nurl = mysql://db/fleetban\n', /fleetban\.conf:2: \[state\] url: expected postgresql:\/\/USER@HOST\/DB/],
    ['[state]\nlease = 5\nstandalone_after = 2\n', /fleetban\.conf:3: \[state\] standalone_after: 0 \(never\) or at least the lease \(5 s\)/],
    ['[state]\nnode = mx 1; rm\n', /fleetban\.conf:2: \[state\] node: expected a name of letters/],
  ])('refuses %j naming file, line and key', (text, message) => {
    const dir = mkdtempSync(join(tmp, 'e-'));
    writeFileSync(join(dir, 'fleetban.conf'), text);
    expect(() => readServiceConfig(dir)).toThrow(message);
  });
});
