import { describe, expect, it } from 'vitest';
import { ConfigSet } from '../../src/config/config-set.js';
import { readWebConfig, webAddress, webWarnings } from '../../src/web/web-config.js';

const read = (text: string) => readWebConfig(ConfigSet.fromString(text, '/etc/fleetban/fleetban.local'));
const METRICS_LOOPBACK = { host: '127.0.0.1', port: 9514 };
const METRICS_ANY = { host: '0.0.0.0', port: 9514 };

describe('[web] in fleetban.conf', () => {
  it('serves the page beside /metrics, read-only, keeping 14 days, by default', () => {
    const cfg = read('');
    expect(cfg).toMatchObject({ enabled: true, writes: false, allowAnonymous: false, historySeconds: 14 * 86400 });
    expect(webAddress(cfg, METRICS_LOOPBACK)).toEqual(METRICS_LOOPBACK);
    expect(webWarnings(cfg, METRICS_LOOPBACK)).toEqual([]);
  });

  it('refuses writes without a token file, naming file, line and key', () => {
    expect(() => read('[web]\nwrites = yes\n')).toThrow(/fleetban\.local:2: \[web\] writes: writes = yes needs token_file/);
  });

  it('refuses its own address off loopback without a login, unless allow_anonymous says so', () => {
    expect(() => read('[web]\nlisten = 0.0.0.0:8080\n')).toThrow(/\[web\] listen: the status page on 0\.0\.0\.0:8080 \(not loopback\) needs token_file/);
    expect(webAddress(read('[web]\nlisten = 0.0.0.0:8080\ntoken_file = /etc/fleetban/web.token\n'), undefined)).toEqual({ host: '0.0.0.0', port: 8080 });
    const open = read('[web]\nlisten = 0.0.0.0:8080\nallow_anonymous = yes\n');
    expect(webWarnings(open, undefined)).toEqual([expect.stringContaining('allow_anonymous = yes')]);
  });

  it('leaves the page off a metrics address open to the network, and check-config says so', () => {
    const cfg = read('');
    expect(webAddress(cfg, METRICS_ANY)).toBeNull();
    expect(webWarnings(cfg, METRICS_ANY)).toEqual([expect.stringMatching(/0\.0\.0\.0:9514 \(not loopback\) needs token_file.*not served/)]);
  });

  it('keeps at least an hour of history', () => {
    expect(() => read('[web]\nhistory = 10m\n')).toThrow(/\[web\] history: expected at least 1h/);
    expect(read('[web]\nhistory = 30d\n').historySeconds).toBe(30 * 86400);
  });
});
