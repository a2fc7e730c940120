import type { FleetHost } from '../config/fleet-reader.js';
import type { Scope } from '../bans/scope.js';

/**
 * The hosts a ban goes to: all of them (`scope = fleet`), those the failures
 * came from (`origin`, matched on the fleet.conf section name), or one group.
 */
export function hostsInScope(hosts: readonly FleetHost[], scope: Scope, origins: readonly string[]): FleetHost[] {
  switch (scope.kind) {
    case 'fleet':
      return [...hosts];
    case 'origin':
      return hosts.filter((h) => origins.includes(h.name));
    case 'group':
      return hosts.filter((h) => h.groups.includes(scope.group));
  }
}

/** Whether one host is in a ban's scope (reconciliation asks this for every active ban). */
export function hostInScope(host: FleetHost, scope: Scope, origins: readonly string[]): boolean {
  switch (scope.kind) {
    case 'fleet':
      return true;
    case 'origin':
      return origins.includes(host.name);
    case 'group':
      return host.groups.includes(scope.group);
  }
}
