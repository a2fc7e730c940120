import type { FilterMatch } from '../filters/filter.js';

/**
 * What a jail reads of a filter's match: the address, the time, the
 * captured fields and the line. Jails need nothing else (not which regex
 * matched), so tests and benchmarks can hand them just these.
 */
export type JailMatch = Pick<FilterMatch, 'ip' | 'time' | 'fields' | 'line'>;
