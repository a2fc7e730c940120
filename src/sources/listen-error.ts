import type { ListenAddress } from '../config/service-config.js';
import { formatListenAddress } from '../config/values.js';

/** `tcp 127.0.0.1:514`, `udp [::]:514`: how listeners are named in logs, errors and counters. */
export function listenerName(transport: string, a: ListenAddress): string {
  return `${transport} ${formatListenAddress(a)}`;
}

const WHY: Record<string, string> = {
  EADDRINUSE: 'address already in use (EADDRINUSE): another process, often rsyslog or syslog-ng, listens there',
  EACCES: 'permission denied (EACCES): ports below 1024 need root or CAP_NET_BIND_SERVICE',
  EADDRNOTAVAIL: 'address not available (EADDRNOTAVAIL): no interface of this host has that address',
  EAFNOSUPPORT: 'address family not supported (EAFNOSUPPORT): is IPv6 disabled?',
  ENOTFOUND: 'host name not found (ENOTFOUND)',
  EAI_AGAIN: 'host name lookup failed (EAI_AGAIN)',
};

/** The error that stops startup when a listener cannot bind: which address, and why. */
export function listenError(name: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const why = (code && WHY[code]) ?? (err instanceof Error ? err.message : String(err));
  const e = new Error(`cannot listen on ${name}: ${why}`);
  (e as NodeJS.ErrnoException).code = code;
  return e;
}
