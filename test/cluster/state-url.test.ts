import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseStateUrl, redactUrl, statePassword } from '../../src/cluster/state-url.js';

describe('[state] url', () => {
  it('takes a URL-encoded socket folder as host', () => {
    expect(parseStateUrl('postgresql://fleetban@%2Frun%2Fpostgresql/fleetban')).toEqual({
      user: 'fleetban',
      host: '/run/postgresql',
      port: 5432,
      database: 'fleetban',
    });
  });

  it('takes a host name, an IPv6 address and a port', () => {
    expect(parseStateUrl('postgresql://fb@db1.example.net:6432/state')).toMatchObject({ host: 'db1.example.net', port: 6432, database: 'state' });
    expect(parseStateUrl('postgres://fb@[2001:db8::5]:5433/state')).toMatchObject({ host: '2001:db8::5', port: 5433 });
  });

  it('refuses a url without user, host or database, without quoting its password', () => {
    expect(() => parseStateUrl('postgresql://db1/fleetban')).toThrow(/names no user/);
    expect(() => parseStateUrl('mysql://fb@db1/x')).toThrow(/expected postgresql/);
    let message = '';
    try {
      parseStateUrl('postgresql://fb:hunter2@db1:99999/x');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/bad port/);
    expect(message).not.toContain('hunter2');
  });

  it('redacts a password written into the url', () => {
    expect(redactUrl('postgresql://fb:hunter2@db1/fleetban')).toBe('postgresql://fb:***@db1/fleetban');
    expect(redactUrl('postgresql://fb@db1/fleetban')).toBe('postgresql://fb@db1/fleetban');
  });

  it('reads the password from password_file first, then the url, then PGPASSWORD', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fbpw-'));
    try {
      const file = join(dir, 'pw');
      writeFileSync(file, 's3cret\n', { mode: 0o600 });
      const url = parseStateUrl('postgresql://fb:inurl@db1/x');
      expect(statePassword(url, file, { PGPASSWORD: 'env' })).toBe('s3cret');
      expect(statePassword(url, undefined, { PGPASSWORD: 'env' })).toBe('inurl');
      expect(statePassword(parseStateUrl('postgresql://fb@db1/x'), undefined, { PGPASSWORD: 'env' })).toBe('env');
      expect(() => statePassword(url, join(dir, 'missing'))).toThrow(/cannot read password_file .*ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
