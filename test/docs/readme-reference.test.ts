import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readmeReference, renderReference } from '../../src/cli/reference.js';

const ROOT = resolve(import.meta.dirname, '../..');

describe('the README reference', () => {
  it('is what the code and the shipped files say (run `npm run docs` after changing them)', () => {
    expect(readmeReference(ROOT)).toBe(renderReference(ROOT));
  });

  it('lists every verb of the binary', () => {
    const ref = renderReference(ROOT);
    for (const verb of ['run', 'regex', 'check-config', 'status', 'banned', 'hosts', 'ban', 'unban', 'reload']) {
      expect(ref).toContain(`\`fleetban ${verb}`);
    }
  });
});

describe('the documented fleet.conf defaults', () => {
  it('are the ones the reader applies', async () => {
    const { fleetKeys } = await import('../../src/cli/reference.js');
    const { fleetFrom } = await import('../../src/config/fleet-reader.js');
    const { ConfigSet } = await import('../../src/config/config-set.js');
    const documented = Object.fromEntries(fleetKeys(resolve(ROOT, 'conf/fleet.conf')).map((k) => [k.key, k.value]));
    const [h] = fleetFrom(ConfigSet.fromString('[mx1]\naddress = 198.51.100.11\n', 'fleet.conf'));
    expect({
      port: String(h!.port),
      user: h!.user,
      driver: h!.driver,
      timeout: String(h!.timeoutMs / 1000),
      connect_timeout: String(h!.connectTimeoutMs / 1000),
      alive_interval: String(h!.aliveIntervalS),
    }).toEqual({
      port: documented.port,
      user: documented.user,
      driver: documented.driver,
      timeout: documented.timeout,
      connect_timeout: documented.connect_timeout,
      alive_interval: documented.alive_interval,
    });
  });
});
