import { describe, expect, it } from 'vitest';
import { SenderPolicy } from '../../src/service/sender-policy.js';

const fleet = [
  { name: 'mx1', address: '198.19.0.2' },
  { name: 'mx2', address: 'mx2.example.com' },
];

describe('who may send, and which server a message is about', () => {
  it('accepts loopback and fleet addresses by default, nothing else', () => {
    const p = new SenderPolicy(fleet, []);
    expect(p.usesDefaultAllowlist).toBe(true);
    expect(p.allowed('127.0.0.1')).toBe(true);
    expect(p.allowed('::1')).toBe(true);
    expect(p.allowed('198.19.0.2')).toBe(true);
    expect(p.allowed('198.19.0.6')).toBe(false);
    expect(p.allowed('203.0.113.9')).toBe(false);
  });

  it('uses allowed_senders instead when configured', () => {
    const p = new SenderPolicy(fleet, ['198.19.0.0/16']);
    expect(p.allowed('198.19.0.6')).toBe(true);
    expect(p.allowed('127.0.0.1')).toBe(false);
  });

  it('names the fleet host by sender address, then by hostname', () => {
    const p = new SenderPolicy(fleet, []);
    expect(p.originOf('198.19.0.2', 'whatever')).toBe('mx1');
    expect(p.originOf('127.0.0.1', 'mx2.example.com')).toBe('mx2');
    expect(p.originOf('127.0.0.1', 'MX1.example.org')).toBe('mx1');
    expect(p.originOf('127.0.0.1', 'vm')).toBe('vm');
    expect(p.originOf('127.0.0.1', undefined)).toBe('127.0.0.1');
  });

  it('gives a time zone per sender network', () => {
    const p = new SenderPolicy(fleet, [], [{ cidr: '198.19.0.0/16', tz: 'UTC' }]);
    expect(p.timezoneOf('198.19.3.4')).toBe('UTC');
    expect(p.timezoneOf('127.0.0.1')).toBeUndefined();
  });
});
