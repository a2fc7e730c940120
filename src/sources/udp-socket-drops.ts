import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { isIP } from 'node:net';

/**
 * The kernel's own count of datagrams it dropped on one UDP socket: those
 * that arrived while the socket's receive buffer was full. They never reach
 * fleetban, so no counter of ours can see them; only the kernel can say
 * how many there were. Linux keeps the count per socket and shows it in
 * the `drops` column of /proc/net/udp (and udp6), one row per socket,
 * keyed by the socket's inode.
 *
 * The receive thread owns the socket, but descriptors belong to the
 * process: the socket is found among /proc/self/fd by its inode, matched
 * with the row of the listener's local address and port. That search is
 * done once (a reading afterwards is one small file read, at scrape time
 * only); it is done again when the row is gone (a new socket after the
 * receive thread was restarted).
 *
 * Where /proc is not there (not Linux), `read` returns undefined and the
 * figure is left out rather than shown as a false 0.
 */
export class UdpSocketDrops {
  private inode: string | undefined;
  private readonly table: string;
  private readonly local: string | undefined;

  constructor(
    host: string,
    private port: number,
    family: 'udp4' | 'udp6',
  ) {
    this.table = family === 'udp6' ? '/proc/net/udp6' : '/proc/net/udp';
    this.local = procAddress(host, family);
  }

  /** A new socket (the thread was restarted, or the port is now known). */
  rebind(port: number): void {
    this.port = port;
    this.inode = undefined;
  }

  /** Datagrams the kernel dropped on this socket so far, or undefined when it cannot be read. */
  read(): number | undefined {
    let text: string;
    try {
      text = readFileSync(this.table, 'latin1');
    } catch {
      return undefined;
    }
    const rows = parseRows(text);
    if (this.inode !== undefined) {
      const row = rows.find((r) => r.inode === this.inode);
      if (row) return row.drops;
      this.inode = undefined;
    }
    const mine = ownSocketInodes();
    const port = this.port.toString(16).toUpperCase().padStart(4, '0');
    const row = rows.find((r) => mine.has(r.inode) && r.port === port && (this.local === undefined || r.address === this.local));
    if (!row) return undefined;
    this.inode = row.inode;
    return row.drops;
  }
}

interface Row {
  address: string;
  port: string;
  inode: string;
  drops: number;
}

/**
 * Rows of /proc/net/udp or udp6:
 * `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops`.
 */
function parseRows(text: string): Row[] {
  const out: Row[] = [];
  const lines = text.split('\n');
  for (let k = 1; k < lines.length; k++) {
    const f = lines[k]!.trim().split(/\s+/);
    if (f.length < 13) continue;
    const [address, port] = f[1]!.split(':') as [string, string | undefined];
    if (port === undefined) continue;
    out.push({ address, port, inode: f[9]!, drops: Number(f[12]) });
  }
  return out;
}

/** Inodes of the sockets this process holds open. */
function ownSocketInodes(): Set<string> {
  const out = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) out.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/**
 * An address as /proc/net/udp writes it: the bytes of the address in
 * network order, read as 32-bit words in the host's (little-endian) order,
 * in upper-case hex. 127.0.0.1 is `0100007F`. Undefined for a name rather
 * than an address: the port alone then picks the row.
 */
export function procAddress(host: string, family: 'udp4' | 'udp6'): string | undefined {
  const bytes = addressBytes(host, family);
  if (!bytes) return undefined;
  let out = '';
  for (let w = 0; w < bytes.length; w += 4) {
    for (let b = 3; b >= 0; b--) out += bytes[w + b]!.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function addressBytes(host: string, family: 'udp4' | 'udp6'): number[] | undefined {
  const v = isIP(host);
  if (v === 4 && family === 'udp4') return host.split('.').map(Number);
  if (v !== 6 || family !== 'udp6') return undefined;
  let h = host;
  const zone = h.indexOf('%');
  if (zone >= 0) h = h.slice(0, zone);
  // An IPv4 tail (::ffff:1.2.3.4) as two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    h = h.slice(0, -v4[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = h.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  if (groups.length !== 8) return undefined;
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}
