import { describe, expect, it } from 'vitest';
import { loadFilter, type FilterResult } from '../../src/filters/filter.js';
import { readVchkpwAddress, splitVchkpwTail } from '../../src/filters/vchkpw-address.js';
import type { LogEvent } from '../../src/model/log-event.js';
import { canonicalIp, prefixKey } from '../../src/net/address.js';

/**
 * The shipped vpopmail filter against lines an attacker shapes: every login
 * vchkpw would write, with hex groups, '@', ':', '::ffff:' and the like,
 * in front of every kind of client address, through the real filter (file
 * lines and syslog events). No line may ban an address, or with
 * ipv6_prefix = 64 a network, other than the client's.
 */

const CONF = new URL('../../conf', import.meta.url).pathname;
const NOW = Date.UTC(2026, 10, 21, 12);

/** What vchkpw's get_remote_ip() writes for TCPREMOTEIP `env` (vpopmail.c). */
function vchkpwWrites(env: string): string {
  if (env.length > 30) return env;
  let s = env;
  if (s.startsWith(':')) {
    let i = 1;
    if (i < s.length) i++;
    while (i < s.length && s[i] !== ':') i++;
    if (i < s.length) i++;
    s = s.slice(i);
  }
  return s.replace(/[^A-Za-z0-9_.@-]/g, '_');
}

/** Client addresses as tcpserver would set TCPREMOTEIP, with the address fleetban must ban. */
const CLIENTS: { env: string; ip: string }[] = [
  '203.0.113.7',
  '198.51.100.23',
  '::ffff:203.0.113.9',
  '2a01:4f8::1',
  '2001:db8::7',
  '2001:db8:beef:2::1',
  '2001:db8:1:2:3:4:5:6',
  '64:ff9b::cb00:7107',
  '2001:db8:1234:5678:9abc:def0:1234:5678',
  '2a01:4f8:c17:1234:5678:9abc:def0:1',
  '2a01:4f8:1234:5678:9abc:def0::1',
  '2001:db8:aaaa:bbbb:cccc:dddd::eeee',
  '2001:0db8:0000:0000:0000:ff00:0042:8329',
].map((env) => ({ env, ip: canonicalIp(env)! }));

/** Logins an attacker sends (the raw messages write them as they are). */
function hostileLogins(): string[] {
  const fixed = [
    '', 'x', 'x@', '@', 'a@b', 'someone@example.com', 'x:2001', 'x:2001:db8', 'x:2001:db8:', 'zz:2001:db8:beef:2',
    'x@zz:2001:db8:beef:2', '2001:db8::', '::ffff', '::ffff:198.51.100.1', 'x:198.51.100.1', '198.51.100.1',
    'a:b:c:d:e:f:1', '1:2:3:4:5:6:7', 'x:1', 'x:', ':', '::', 'x::', 'dead:beef', 'x:dead:beef:', ' x : y ',
    "it's') me:1.2.3.4", '2001_db8__1', 'x:2001_db8__1', 'x@y:2001:db8::1 ', '[2001:db8::1]', 'x:[2001',
    'ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'a:b:c:d:e:f:0:1:2', 'x:64:ff9b', 'x:2001:db8:aaaa', 'x:a', 'x:aaaa:bbbb',
    '2001:db8:beef:2:2a01:4f8', 'x@zz:2001:db8:beef:2:2a01', '0:0:0:0:0:ffff', 'x:::ffff', 'x%y:1', 'x/y:2001',
  ];
  // And a few hundred more from a seeded generator of the pieces that matter.
  const pieces = ['2001', 'db8', 'beef', '2', 'a', 'ffff', '0', '1', ':', '::', '@', '.', '198.51.100.1', '_', 'x', 'zz', ' ', "')"];
  let seed = 0x5eed;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const out = [...fixed];
  for (let i = 0; i < 400; i++) {
    let s = '';
    const len = 1 + rnd(9);
    for (let k = 0; k < len; k++) s += pieces[rnd(pieces.length)];
    out.push(s);
  }
  return [...new Set(out)];
}

/** The login as vchkpw checks it: is_username_valid and is_domain_valid, split at the first '@'. */
function vchkpwAccepts(user: string, domain: string): boolean {
  return /^[!#$&'*+\-./0-9=?A-Z^_`a-z{|}~]*$/.test(user) && /^[-.0-9A-Za-z]*$/.test(domain);
}

interface Case {
  line: string;
  ip: string;
  /** vchkpw itself could have written this line (else a forged shape, which must not ban a wrong address either). */
  genuine: boolean;
  /** The address can be read only one way from what vchkpw wrote (a line that must ban). */
  unique: boolean;
}

/**
 * Is the tail `LOGIN:ADDRESS` readable one way only, knowing all vchkpw
 * can write (an oracle independent of the filter: every cut, with the
 * length rule of get_remote_ip)?
 */
function readableOneWay(tail: string): boolean {
  let ways = 0;
  for (let i = 0; i < tail.length; i++) {
    if (tail[i] !== ':') continue;
    const text = tail.slice(i + 1);
    const writable = CAN_WRITE(text);
    if (writable) ways++;
  }
  return ways === 1;
}

function CAN_WRITE(text: string): boolean {
  if (text.includes('_')) {
    if (text.includes(':')) return false;
    const v6 = canonicalIp(text.replaceAll('_', ':'));
    return v6 !== null && v6.includes(':') && text.length <= 30;
  }
  if (text.includes(':')) return text.length > 30 && canonicalIp(text) !== null && !text.startsWith('[');
  return /^\d+\.\d+\.\d+\.\d+$/.test(text) && canonicalIp(text) === text;
}

/**
 * A line that is not vchkpw's own for the generated client may still be
 * exactly what vchkpw writes for another client `ip` with a login it accepts
 * (login `x`, client `2001:2a01:...`): then banning `ip` is right.
 */
function writtenFor(line: string, ip: string): boolean {
  const tail = line.slice(line.lastIndexOf(' ') + 1);
  const cut = tail.indexOf(':');
  const login = tail.slice(0, cut);
  const text = tail.slice(cut + 1);
  return !login.includes(':') && CAN_WRITE(text) && (canonicalIp(text) ?? canonicalIp(text.replaceAll('_', ':'))) === ip;
}

function corpus(): Case[] {
  const cases: Case[] = [];
  const logins = hostileLogins();
  for (const c of CLIENTS) {
    const w = vchkpwWrites(c.env);
    if (w === '') continue;
    for (const login of logins) {
      // Raw logins: written as sent (TheName); vchkpw lower-cases only for the second message.
      for (const msg of ['null password given', 'invalid user/domain characters']) {
        const name = msg.startsWith('invalid') ? login.toLowerCase() : login;
        const tail = `${name}:${w}`;
        cases.push({ line: `${msg} ${tail}`, ip: c.ip, genuine: true, unique: readableOneWay(tail) });
      }
      // Checked logins: user@domain split at the first '@'.
      const at = login.indexOf('@');
      const user = at === -1 ? login : login.slice(0, at);
      const domain = at === -1 ? '' : login.slice(at + 1);
      const genuine = vchkpwAccepts(user, domain);
      for (const msg of ['vpopmail user not found', 'password fail', `password fail (pass: '${login}') a@b:198.51.100.250')`]) {
        cases.push({ line: `${msg} ${user}@${domain}:${w}`, ip: c.ip, genuine, unique: genuine });
      }
      const sysName = genuine ? (at === -1 ? user : `${user}@${domain}`) : login;
      cases.push({ line: `system password fail ${sysName}:${w}`, ip: c.ip, genuine, unique: genuine });
    }
    cases.push({ line: `null user name given :${w}`, ip: c.ip, genuine: true, unique: true });
  }
  return cases;
}

const event = (message: string): LogEvent => ({
  time: NOW,
  received: NOW,
  source: 'udp',
  origin: 'mx1',
  hostname: 'mx1',
  app: 'vpopmail',
  pid: '4242',
  message,
  raw: message,
});

describe('the vpopmail filter on a hostile corpus', () => {
  const filter = loadFilter(CONF, 'vpopmail');
  const cases = corpus();

  it('never bans an address (or with ipv6_prefix = 64 a network) the attacker chose, and bans every other line vchkpw wrote', () => {
    let tried = 0;
    let banned = 0;
    let wrong = 0;
    let wrongNet = 0;
    const lostUnique: string[] = [];
    const wrongLines: string[] = [];
    const before = filter.losses.ambiguous;
    for (const c of cases) {
      const lineResults: FilterResult[] = [
        filter.matchLine(`Mar  1 10:00:00 mx1 vpopmail[4242]: vchkpw-pop3: ${c.line}`, NOW),
        ...filter.matchEvents([event(`vchkpw-pop3: ${c.line}`)]),
      ];
      for (const r of lineResults) {
        tried++;
        if (r.kind !== 'failure') {
          if (c.genuine && c.unique) lostUnique.push(c.line);
          continue;
        }
        banned++;
        if (r.match.ip === c.ip || (!c.genuine && writtenFor(c.line, r.match.ip))) continue;
        wrong++;
        wrongLines.push(`${c.line} -> ${r.match.ip} (client ${c.ip})`);
        if (prefixKey(r.match.ip, 64) !== prefixKey(c.ip, 64)) wrongNet++;
      }
    }
    const ambiguous = filter.losses.ambiguous - before;
    const lostUniqueCount = lostUnique.length;
    console.info(
      `vpopmail hostile corpus: ${tried} lines tried (${cases.length} shapes, file and event), ${banned} banned, ` +
        `${wrong} banned a wrong address, ${wrongNet} a wrong /64, ${ambiguous} counted ambiguous, ` +
        `${lostUniqueCount} of them lines that vchkpw's 30-character rule would have told apart`,
    );
    expect(wrongLines.slice(0, 10)).toEqual([]);
    expect(wrong).toBe(0);
    expect(wrongNet).toBe(0);
    expect(tried).toBeGreaterThan(10_000);
    expect(ambiguous).toBeGreaterThan(0);
    // Only raw logins before an IPv6 address with '::' written with its colons are given up:
    // its shorter tails are addresses too (see vchkpw-address.ts for why they are not ruled out).
    for (const l of lostUnique) expect(l, l).toMatch(/^(?:null password given|invalid user\/domain characters) .*:[0-9a-f:]*::[0-9a-f]*$/);
  });

  it("the issue's lines no longer ban the address written into the login", () => {
    const plain = filter.matchLine('Mar  1 10:00:00 mx1 vpopmail[1]: vchkpw-pop3: password fail x:2001:db8:2a01:4f8::1', NOW);
    expect(plain.kind === 'failure' ? plain.match.ip : 'none').not.toBe('2001:db8:2a01:4f8::1');
    const raw = filter.matchLine('Mar  1 10:00:00 mx1 vpopmail[1]: vchkpw-pop3: invalid user/domain characters x@zz:2001:db8:beef:2:2a01:4f8::1', NOW);
    expect(raw.kind).toBe('missed');
    // What vchkpw really writes for a client at 2a01:4f8::1 is read as that client.
    const real = filter.matchLine('Mar  1 10:00:00 mx1 vpopmail[1]: vchkpw-pop3: invalid user/domain characters x@zz:2001:db8:beef:2:2a01_4f8__1', NOW);
    expect(real.kind === 'failure' && real.match.ip).toBe('2a01:4f8::1');
    expect(real.kind === 'failure' && real.match.fields.user).toBe('x@zz:2001:db8:beef:2');
  });
});

describe('reading vchkpw addresses', () => {
  it('takes the cleaned form and the long form, and nothing mixed', () => {
    expect(readVchkpwAddress('2a01_4f8__1')).toBe('2a01:4f8::1');
    expect(readVchkpwAddress('203.0.113.7')).toBe('203.0.113.7');
    expect(readVchkpwAddress('2001:db8:1234:5678:9abc:def0:1234:5678')).toBe('2001:db8:1234:5678:9abc:def0:1234:5678');
    expect(readVchkpwAddress('2a01_4f8::1')).toBeNull();
    expect(readVchkpwAddress('203_0_113_7')).toBeNull();
    expect(readVchkpwAddress('fe80__1_eth0')).toBeNull();
  });

  it('splits a raw login from the address only when one cut leaves an address', () => {
    expect(splitVchkpwTail('a:b:2001:db8:1234:5678:9abc:def0:1234:5678')).toEqual({
      kind: 'address',
      ip: '2001:db8:1234:5678:9abc:def0:1234:5678',
      login: 'a:b',
    });
    expect(splitVchkpwTail('x:2001:2a01:4f8:1234:5678:9abc:def0::1').kind).toBe('ambiguous');
    expect(splitVchkpwTail('x:198.51.100.1:203.0.113.7')).toEqual({ kind: 'address', ip: '203.0.113.7', login: 'x:198.51.100.1' });
    expect(splitVchkpwTail('x:')).toEqual({ kind: 'none' });
  });
});
