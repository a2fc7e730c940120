import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { actionFrom, readAction, readJailActions } from '../../src/config/action-reader.js';
import { ConfigError } from '../../src/config/config-error.js';
import { ConfigSet } from '../../src/config/config-set.js';
import type { TagValues } from '../../src/fleet/command-template.js';
import { ACTION_DIR, shippedAction } from './harness.js';

const v4: TagValues = { ip: '203.0.113.5', bantime: 600, until: 600_000, failures: 5, time: 0, restored: false, fields: {}, now: 0 };
const v6: TagValues = { ...v4, ip: '2001:db8::5' };

function fromText(text: string, params: Record<string, string> = {}, jail = 'courier-auth') {
  return actionFrom(ConfigSet.fromString(text, 'action.d/test.conf'), { name: 'test', params }, jail);
}

describe('reading action.d files', () => {
  it('renders the shipped route action, with ip -6 for IPv6 and a batch form', () => {
    const a = shippedAction('route', 'vpopmail');
    expect(a.dryRun).toBe(false);
    expect(a.families.inet4.actionban!.render(v4)).toBe('ip route replace unreachable 203.0.113.5');
    expect(a.families.inet6.actionban!.render(v6)).toBe('ip -6 route replace unreachable 2001:db8::5');
    expect(a.families.inet4.banBatch!.command).toBe('ip -batch -');
    expect(a.families.inet6.unbanBatch!.line.render(v6)).toBe('route del unreachable 2001:db8::5');
  });

  it("takes the jail's parameters over [Init], as `route[blocktype=blackhole]` does", () => {
    const a = shippedAction('route', 'vpopmail', { blocktype: 'blackhole' });
    expect(a.families.inet4.actionban!.render(v4)).toBe('ip route replace blackhole 203.0.113.5');
  });

  it('names sets after the jail (<name>) unless the jail passes another name', () => {
    expect(shippedAction('ipset', 'courier-auth').families.inet4.actionban!.render(v4)).toBe(
      'ipset -exist add f2b-courier-auth 203.0.113.5 timeout 600',
    );
    expect(shippedAction('ipset', 'courier-auth').families.inet6.banBatch!.line.render(v6)).toBe(
      'add f2b-courier-auth6 2001:db8::5 timeout 600',
    );
    const renamed = shippedAction('ipset', 'courier-auth', { name: 'mail' });
    expect(renamed.families.inet4.actionflush).toBe('ipset flush f2b-mail');
    expect(renamed.actname).toBe('ipset-mail');
  });

  it('gives nftables elements the time left, and no timeout to a ban for ever', () => {
    const a = shippedAction('nftables', 'sasl');
    expect(a.families.inet4.actionban!.render({ ...v4, until: 90_000, now: 30_000 })).toBe(
      "nft 'add element inet f2b-table addr-set-sasl { 203.0.113.5 }; delete element inet f2b-table addr-set-sasl { 203.0.113.5 }; add element inet f2b-table addr-set-sasl { 203.0.113.5 timeout 60s }'",
    );
    expect(a.families.inet6.actionunban!.render({ ...v6, until: null })).toBe(
      "nft 'add element inet f2b-table addr6-set-sasl { 2001:db8::5 }; delete element inet f2b-table addr6-set-sasl { 2001:db8::5 }'",
    );
  });

  it('marks the dry-run action, which only logs', () => {
    const a = shippedAction('dry-run', 'vpopmail');
    expect(a.dryRun).toBe(true);
    expect(a.families.inet4.actionban!.render(v4)).toBe('ip route replace unreachable 203.0.113.5');
  });

  it('reads a jail\'s action list from its conf directory', () => {
    const list = readJailActions(`${ACTION_DIR}/..`, {
      name: 'vpopmail',
      actions: [{ name: 'route', params: {} }, { name: 'iptables-multiport', params: { port: '110,995' } }],
    });
    expect(list.map((a) => a.name)).toEqual(['route', 'iptables-multiport']);
    expect(list[1]!.families.inet4.actioncheck).toBe('iptables -w -C INPUT -p tcp -m multiport --dports 110,995 -j f2b-vpopmail');
  });

  it('resolves <known/...>, other sections and options of [Definition] as fail2ban does', () => {
    const a = fromText(
      [
        '[Definition]',
        'actionban = fw <_rule> <kind_<type>/x> -j <blocktype>',
        '_rule = -s <ip> -c <chain>',
        'type = b',
        '[kind_b]',
        'x = from-b',
        '[Init]',
        'chain = INPUT',
        'blocktype = DROP',
        '[Init?family=inet6]',
        'blocktype = REJECT6',
      ].join('\n'),
      { chain: 'MAIL-<known/chain>' },
    );
    expect(a.families.inet4.actionban!.render(v4)).toBe('fw -s 203.0.113.5 -c MAIL-INPUT from-b -j DROP');
    expect(a.families.inet6.actionban!.render(v6)).toBe('fw -s 2001:db8::5 -c MAIL-INPUT from-b -j REJECT6');
  });

  it('uses [Definition?family=inet6] commands for IPv6 bans', () => {
    const a = fromText('[Definition]\nactionban = v4 <ip>\n[Definition?family=inet6]\nactionban = v6 <ip>\n');
    expect(a.families.inet4.actionban!.render(v4)).toBe('v4 203.0.113.5');
    expect(a.families.inet6.actionban!.render(v6)).toBe('v6 2001:db8::5');
  });

  it('refuses a command sh cannot parse, naming the file, line and key', () => {
    const e = (() => {
      try {
        fromText('[Definition]\nactionstart = true\nactionban = if then <ip>\n');
      } catch (err) {
        return err as ConfigError;
      }
      throw new Error('no error');
    })();
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toMatch(/^action\.d\/test\.conf:3: \[Definition\] actionban: not a valid sh command/);
  });

  it('says which tags have no value when they break a command', () => {
    expect(() => fromText('[Definition]\nactionban = fw <ip> <undefined-tag>\n')).toThrow(/tags without a value: <undefined-tag>/);
  });

  it('refuses log text in batch lines and per-ban tags in start, check and batch commands', () => {
    expect(() => fromText('[Definition]\nactionban_batch = cat\nactionban_batchline = add <ip> <F-USER>\n')).toThrow(
      /actionban_batchline: <F-USER> carries text from log lines and cannot be used here/,
    );
    expect(() => fromText('[Definition]\nactionstart = echo <ip>\n')).toThrow(/actionstart: <ip> has no value here/);
    expect(() => fromText('[Definition]\nactionban_batch = cat <ip>\nactionban_batchline = <ip>\n')).toThrow(/differs per ban/);
    expect(() => fromText('[Definition]\nactionban_batch = cat\n')).toThrow(/actionban_batch needs actionban_batchline/);
  });

  it('refuses log text inside backticks when the file is read, not when a ban comes', () => {
    expect(() => fromText('[Definition]\nactionban = echo `echo <F-USER>` <ip>\n')).toThrow(/\[Definition\] actionban: <F-USER> carries text from log lines/);
  });

  it('refuses a value from a log line where a second parser reads it, naming the file, the line the tag is on and the tag', () => {
    const refused = (text: string) => {
      try {
        fromText(text);
      } catch (err) {
        return (err as ConfigError).message;
      }
      throw new Error('accepted');
    };
    expect(refused('[Definition]\nactionban = logger "<ip>"\n            sh -c "logger <F-USER>"\n')).toMatch(
      /^action\.d\/test\.conf:3: \[Definition\] actionban: <F-USER> carries text from log lines and the command runs sh/,
    );
    expect(refused('[Definition]\nactionban = eval "logger <matches>"\n')).toMatch(/^action\.d\/test\.conf:2: \[Definition\] actionban: <matches> carries text .* eval/);
    expect(refused("[Definition]\nactionunban = x=1\n  y=2\n  logger 'user <F-USER>'\n")).toMatch(/^action\.d\/test\.conf:4: \[Definition\] actionunban: <F-USER> .* single quotes/);
    // Through another option of the file: the line of the key that uses it.
    expect(refused('[Definition]\nactionban = %(_log)s\n_log = bash -c "logger <F-USER>"\n')).toMatch(/^action\.d\/test\.conf:2: \[Definition\] actionban: <F-USER> .* bash/);
  });

  it('names a missing action', () => {
    expect(() => readAction(ACTION_DIR, { name: 'no-such-action', params: {} }, 'j')).toThrow(/no action "no-such-action"/);
    expect(() => readAction(ACTION_DIR, { name: '../fleet', params: {} }, 'j')).toThrow(/not an action name/);
  });

  const F2B = '/etc/fail2ban/action.d';
  it.skipIf(!existsSync(F2B))("loads fail2ban's own action files unchanged", () => {
    const params = { port: '25,465', protocol: 'tcp', chain: 'INPUT' };
    const failed: string[] = [];
    const names = readdirSync(F2B).filter((x) => x.endsWith('.conf')).map((f) => f.slice(0, -'.conf'.length));
    for (const name of names) {
      try {
        readAction(F2B, { name, params }, 'courier-auth');
      } catch (err) {
        failed.push(`${name}: ${(err as Error).message}`);
      }
    }
    expect(failed).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(['route', 'iptables-multiport', 'iptables-ipset', 'nftables', 'sendmail-whois', 'xarf-login-attack']));
    const ipt = readAction(F2B, { name: 'iptables-multiport', params }, 'courier-auth');
    expect(ipt.families.inet4.actionban!.render(v4)).toBe('iptables -w -I f2b-courier-auth 1 -s 203.0.113.5 -j REJECT --reject-with icmp-port-unreachable');
    expect(ipt.families.inet6.actionban!.render(v6)).toBe('ip6tables -w -I f2b-courier-auth 1 -s 2001:db8::5 -j REJECT --reject-with icmp6-port-unreachable');
  });
});
