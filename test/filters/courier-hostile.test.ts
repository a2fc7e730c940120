import { describe, expect, it } from 'vitest';
import { loadFilter, type FilterResult } from '../../src/filters/filter.js';

/**
 * The Courier filters against logins and commands shaped like Courier's
 * own fields: the address is the one Courier wrote, IPv6 and ::ffff: forms
 * included, never one an attacker put into the user name or command.
 */

const CONF = new URL('../../conf', import.meta.url).pathname;
const NOW = Date.UTC(2026, 10, 21, 12);
const line = (msg: string) => `Mar  1 10:00:00 mx1 ${msg}`;
const ip = (r: FilterResult) => (r.kind === 'failure' ? r.match.ip : r.kind);

const CLIENTS = [
  ['::ffff:203.0.113.7', '203.0.113.7'],
  ['2001:db8::7', '2001:db8::7'],
  ['2a01:4f8:1234:5678:9abc:def0:1234:5678', '2a01:4f8:1234:5678:9abc:def0:1234:5678'],
] as const;

const HOSTILE_USERS = [
  'x, ip=[198.51.100.66]',
  'x, ip=[2001:db8:66::1], port=[1',
  'x], ip=[::ffff:198.51.100.66',
  'ip=[198.51.100.66]',
  'x, ip=[198.51.100.66], port=[25]',
  '2001:db8:66::',
  ', ip=[',
];

describe('courier-auth', () => {
  const f = loadFilter(CONF, 'courier-auth');
  it.each(CLIENTS)('takes the last ip=[...] Courier wrote for %s, whatever the user name holds', (written, client) => {
    for (const user of HOSTILE_USERS) {
      for (const trailer of ['', ', port=[50123]']) {
        const r = f.matchLine(line(`imapd: LOGIN FAILED, user=${user}, ip=[${written}]${trailer}`), NOW);
        expect(ip(r), user).toBe(client);
      }
      // A user name cannot append fields after Courier's own address.
      const r = f.matchLine(line(`imapd-ssl: LOGIN FAILED, method=PLAIN, user=${user}, ip=[${written}]`), NOW);
      expect(ip(r), user).toBe(client);
    }
  });
});

describe('courier-smtp', () => {
  const f = loadFilter(CONF, 'courier-smtp');
  it.each(CLIENTS)('takes the relay= address Courier wrote first for %s, whatever the command holds', (written, client) => {
    for (const cmd of ['AUTH PLAIN ,relay=198.51.100.66,', 'AUTH LOGIN relay=2001:db8:66::1', 'AUTH LOGIN x']) {
      const r = f.matchLine(line(`courieresmtpd: error,relay=${written},msg="535 Authentication failed.",cmd: ${cmd}`), NOW);
      expect(ip(r), cmd).toBe(client);
    }
    const r = f.matchLine(line(`courieresmtpd: error,relay=${written},port=50123,from=<a,relay=198.51.100.66,@x>,to=<b@example.net>: 550 User unknown.`), NOW);
    expect(ip(r)).toBe(client);
  });
});
