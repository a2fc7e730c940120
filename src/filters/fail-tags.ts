/**
 * fail2ban's regex tags (jail.conf(5), "failregex"): `<HOST>` and friends
 * stand for address regexes with fixed group names, `<F-NAME>...</F-NAME>`
 * captures a named field. This module replaces them in a Python-syntax regex
 * before it is translated to JavaScript, with the same group names fail2ban
 * uses, so the engine finds the address in `ip4`, `ip6` or `dns`.
 *
 * `<HOST>` matches addresses only: an IPv4 dotted quad, optionally written
 * IPv4-mapped (`::ffff:a.b.c.d`, the prefix is not captured), or IPv6. A DNS
 * name is matched only when the filter asks for it with `<DNS>` or
 * `usedns` is not `no` (fail2ban's rule); fleetban never resolves names from
 * logs, so a match that captured only a name is reported as missed (and
 * counted per jail as a host-name line).
 */

const IP4 = '(?:\\d{1,3}\\.){3}\\d{1,3}';
const IP6 = '(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):)';
const R_IP4 = `(?:::f{4,6}:)?(?P<ip4>${IP4})`;
const R_IP6 = `(?P<ip6>${IP6})`;
const R_DNS = '(?P<dns>[\\w\\-.^_]*\\w)';
const R_ADDR = `\\[?(?:${R_IP4}|${R_IP6})\\]?`;
const R_HOST_DNS = `(?:${R_ADDR}|${R_DNS})`;
const R_CIDR = '(?P<cidr>\\d+)';
const R_SUBNET = `\\[?(?:${R_IP4}|${R_IP6})(?:/${R_CIDR})?\\]?`;

const STATIC_TAGS: Record<string, string> = {
  IP4: R_IP4,
  'F-IP4/': R_IP4,
  IP6: R_IP6,
  'F-IP6/': R_IP6,
  ADDR: R_ADDR,
  'F-ADDR/': R_ADDR,
  CIDR: R_CIDR,
  'F-CIDR/': R_CIDR,
  SUBNET: R_SUBNET,
  'F-SUBNET/': R_SUBNET,
  DNS: R_DNS,
  'F-DNS/': R_DNS,
  'F-ID/': '(?P<fid>\\S+)',
  'F-PORT/': '(?P<fport>\\w+)',
};

/** fail2ban stores `<F-ID>` as `fid` and `<F-PORT>` as `fport`; other names lower-cased. */
function groupName(tag: string): string {
  const t = tag.toLowerCase();
  return t === 'id' ? 'fid' : t === 'port' ? 'fport' : t.replace(/-/g, '_');
}

const TAG_RE = /<\/?[\w-]+\/?>/g;
const CUSTOM_RE = /^(\/?)F-([A-Z0-9_-]+)$/;

export class TagError extends Error {
  override readonly name = 'TagError';
}

/**
 * Replace fail2ban's regex tags. `<SKIPLINES>` stands for any number of
 * whole lines of the multi-line buffer (lazily), captured as `skiplinesN` so
 * the buffer keeps them for later matches, as fail2ban does. Any other
 * `<NAME>` is left as written, as fail2ban leaves it (`<NOSRV>` in
 * haproxy-http-auth is literal text of the log).
 */
export function expandFailTags(regex: string, opts: { useDns?: boolean } = {}): string {
  const open = new Set<string>();
  let skip = 0;
  return regex.replace(TAG_RE, (tag) => {
    const tn = tag.slice(1, -1);
    if (tn === 'HOST') return opts.useDns ? R_HOST_DNS : R_ADDR;
    if (tn === 'SKIPLINES') return `\\n(?P<skiplines${skip++}>(?:(?:.*\\n)*?))`;
    const fixed = STATIC_TAGS[tn];
    if (fixed !== undefined) return fixed;
    const m = CUSTOM_RE.exec(tn);
    if (m) {
      const name = m[2]!;
      if (m[1]) return open.has(name) ? ')' : tag;
      open.add(name);
      return `(?P<${groupName(name)}>`;
    }
    return tag;
  });
}

/**
 * Every tag-shaped leftover after expansion, in order: kept as text (as
 * fail2ban keeps them), shown by `fleetban regex` so a typo is visible.
 */
export function leftoverTags(regex: string): string[] {
  const out: string[] = [];
  const re = /(?<!\(\?P?)(?<!\(\?P=)<(\/?[A-Za-z0-9_\-/]+)>/g;
  for (let m = re.exec(regex); m; m = re.exec(regex)) out.push(m[0]);
  return out;
}

/**
 * A leftover that can only be a configuration tag nobody defined: a
 * `<__prefix_line>`, `<lt_file/x>` or `<mdre-nosuch>` shape, never text of
 * a log. fail2ban would keep it as text and silently never match; fleetban
 * refuses it, naming it. Upper-case leftovers (`<NOSRV>`, `<SECURITY_LOG>`)
 * and unopened `</F-...>` are kept as text, where fail2ban keeps them.
 */
export function forgottenTag(regex: string): string | undefined {
  const re = /(?<!\(\?P?)(?<!\(\?P=)<(\/?[A-Za-z0-9_\-/]+)>/g;
  for (let m = re.exec(regex); m; m = re.exec(regex)) {
    const name = m[1]!;
    if (/^\/?F-/.test(name) || /^[A-Z][A-Z0-9_]*$/.test(name)) continue;
    if (name.startsWith('_') || name.includes('/') || /^[a-z0-9]+(?:[-_][a-z0-9<>]+)+$/.test(name)) return m[0];
  }
  return undefined;
}
