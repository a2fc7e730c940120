/**
 * Which mail servers receive a ban: every host, only the hosts the failures
 * were seen on, or the hosts of one fleet.conf group. The ban carries its
 * scope; src/fleet/ alone turns a scope into hosts (fleet/scope.ts).
 */
export type Scope = { kind: 'fleet' } | { kind: 'origin' } | { kind: 'group'; group: string };

/** `fleet`, `origin` or `group:NAME`: how jail.conf writes a scope and the state stores it. */
export function formatScope(s: Scope): string {
  return s.kind === 'group' ? `group:${s.group}` : s.kind;
}

/** Parse `fleet`, `origin` or `group:NAME`; null otherwise. */
export function parseScope(text: string): Scope | null {
  const t = text.trim();
  if (t === 'fleet') return { kind: 'fleet' };
  if (t === 'origin') return { kind: 'origin' };
  const m = /^group:([A-Za-z0-9_.-]+)$/.exec(t);
  return m ? { kind: 'group', group: m[1]! } : null;
}
