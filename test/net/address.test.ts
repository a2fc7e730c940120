import { describe, expect, it } from 'vitest';
import { canonicalIp, parseCidr, prefixKey } from '../../src/net/address.js';
import { CidrSet } from '../../src/net/cidr-set.js';

describe('canonicalIp', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8::0:1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['::ffff:198.51.100.4', '198.51.100.4'],
    ['::FFFF:c633:6404', '198.51.100.4'],
    ['[2001:db8::5]', '2001:db8::5'],
    ['2001:db8::203.0.113.1', '2001:db8::cb00:7101'],
  ])('%s -> %s', (input, want) => {
    expect(canonicalIp(input)).toBe(want);
  });

  it.each([
    '', '203.0.113', '203.0.113.256', '203.0.113.07', '1.2.3.4.5', ' 1.2.3.4', '1.2.3.4 ',
    'mail.example.com', '2001:db8:::1', '2001:db8::1::2', '1:2:3:4:5:6:7:8:9', ':1:2:3:4:5:6:7',
    '2001:db8::1%eth0', '$(reboot)', '1.2.3.4;id', '12345::', '::ffff:1.2.3',
  ])('rejects %j', (input) => {
    expect(canonicalIp(input)).toBeNull();
  });
});

describe('networks', () => {
  it('matches ignoreip-style lists of v4 and v6 networks', () => {
    const s = new CidrSet();
    expect(s.add('127.0.0.1/8')).toBe(true);
    expect(s.add('2001:db8:1::/48')).toBe(true);
    expect(s.add('198.51.100.9')).toBe(true);
    expect(s.add('not-a-network')).toBe(false);
    expect(s.has('127.4.5.6')).toBe(true);
    expect(s.has('2001:db8:1:ffff::1')).toBe(true);
    expect(s.has('2001:db8:2::1')).toBe(false);
    expect(s.has('198.51.100.9')).toBe(true);
    expect(s.has('::ffff:198.51.100.9')).toBe(true);
    expect(s.has('198.51.100.10')).toBe(false);
  });

  it('clears host bits and rejects bad prefixes', () => {
    expect(parseCidr('203.0.113.77/24')?.bytes).toEqual(new Uint8Array([203, 0, 113, 0]));
    expect(parseCidr('203.0.113.0/33')).toBeNull();
    expect(parseCidr('203.0.113.0/x')).toBeNull();
  });

  it('counts an IPv6 attacker per /64 when asked', () => {
    expect(prefixKey('2001:db8:1:2:aaaa::1', 64)).toBe('2001:db8:1:2::/64');
    expect(prefixKey('2001:db8:1:2:aaaa::1', 128)).toBe('2001:db8:1:2:aaaa::1');
    expect(prefixKey('203.0.113.5', 64)).toBe('203.0.113.5');
  });
});
