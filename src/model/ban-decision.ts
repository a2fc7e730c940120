import type { Ban } from '../bans/ban.js';

export type { Scope } from '../bans/scope.js';

/** Transitional: the ban's one shape is `Ban` (src/bans/ban.ts). */
export type BanDecision = Ban;
