import dgram from 'node:dgram';
import { afterEach, expect, test } from 'vitest';
import { procAddress, UdpSocketDrops } from '../../src/sources/udp-socket-drops.js';

// The kernel's drop count is found by the socket's row in /proc/net/udp or
// udp6; the row is picked by the address as the kernel writes it there.

const sockets: dgram.Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

function bound(type: 'udp4' | 'udp6', address: string): Promise<number> {
  const s = dgram.createSocket(type);
  sockets.push(s);
  return new Promise((resolve) => s.bind({ address, port: 0 }, () => resolve(s.address().port)));
}

test('addresses as /proc/net/udp and udp6 write them', () => {
  expect(procAddress('127.0.0.1', 'udp4')).toBe('0100007F');
  expect(procAddress('0.0.0.0', 'udp4')).toBe('00000000');
  expect(procAddress('::', 'udp6')).toBe('0'.repeat(32));
  expect(procAddress('::1', 'udp6')).toBe('000000000000000000000000' + '01000000');
  expect(procAddress('2001:db8::2', 'udp6')).toBe('B80D0120' + '00000000' + '00000000' + '02000000');
  expect(procAddress('::ffff:127.0.0.1', 'udp6')).toBe('00000000' + '00000000' + 'FFFF0000' + '0100007F');
  expect(procAddress('localhost', 'udp4')).toBeUndefined();
});

test('a socket of this process is found on IPv4 and IPv6, and one of another address or port is not', async () => {
  const p4 = await bound('udp4', '127.0.0.1');
  const p6 = await bound('udp6', '::1');
  expect(new UdpSocketDrops('127.0.0.1', p4, 'udp4').read()).toBe(0);
  expect(new UdpSocketDrops('::1', p6, 'udp6').read()).toBe(0);
  expect(new UdpSocketDrops('127.0.0.2', p4, 'udp4').read()).toBeUndefined();
  expect(new UdpSocketDrops('::1', p4 === 1 ? 2 : 1, 'udp6').read()).toBeUndefined();
});
