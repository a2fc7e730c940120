import { type DateTemplate, epochTemplate, patternTemplate, tai64nTemplate } from './date-template.js';

/**
 * fail2ban's default date formats (datedetector.py), in its order. A filter
 * without a datepattern, `{DEFAULT}`, `{^LN-BEG}` and `{DATE}` all draw on
 * this list.
 */
const DEFAULT_PATTERNS = [
  '%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\\s*%z)?',
  '(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?',
  '(?:%a )?%b %d %ExY %k:%M:%S(?:\\.%f)?',
  '%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S',
  '%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\\.%f)?(?: %z)?',
  '%m/%d/%ExY:%H:%M:%S',
  '%m-%d-%ExY %k:%M:%S(?:\\.%f)?',
  'EPOCH',
  '{^LN-BEG}%H:%M:%S',
  '^<%m/%d/%Exy@%H:%M:%S>',
  '%Exy%Exm%Exd  ?%H:%M:%S',
  '%b %d, %ExY %I:%M:%S %p',
  '^%b-%d-%Exy %k:%M:%S',
  '%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\\s*%z)?',
  '(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?',
  '(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?',
  'TAI64N',
];

/** Already anchored at the line start: fail2ban makes no `{^LN-BEG}` variant of these. */
function lineAnchored(p: string): boolean {
  return p.startsWith('^') || p.startsWith('{^LN-BEG}');
}

/** One named template as fail2ban spells it (`EPOCH`, `{^LN-BEG}TAI64N`, a strptime pattern). */
function template(spec: string, now: Date): DateTemplate {
  const key = spec.includes('%') ? spec : spec.toUpperCase();
  if (/(?<!\\)\{L?EPOCH\}/i.test(spec)) return epochTemplate({ pattern: spec, long: /\{LEPOCH\}/i.test(spec) });
  switch (key) {
    case 'EPOCH':
      return epochTemplate({});
    case '{^LN-BEG}EPOCH':
    case '^EPOCH':
      return epochTemplate({ lineBeginOnly: true });
    case 'LEPOCH':
      return epochTemplate({ long: true });
    case '{^LN-BEG}LEPOCH':
    case '^LEPOCH':
      return epochTemplate({ lineBeginOnly: true, long: true });
    case 'TAI64N':
      return tai64nTemplate(false);
    case '{^LN-BEG}TAI64N':
    case '^TAI64N':
      return tai64nTemplate(true);
    case 'ISO8601':
      // fail2ban's name for the first default format.
      return patternTemplate(DEFAULT_PATTERNS[0]!, now);
    case '{^LN-BEG}ISO8601':
      return patternTemplate('{^LN-BEG}' + DEFAULT_PATTERNS[0]!, now);
  }
  return patternTemplate(spec, now);
}

/** fail2ban's unboundPattern: drop boundary markers before putting a format into `{DATE}`. */
function unbound(p: string): string {
  return p
    .replace(/^\{UNB\}/, '')
    .replace(/^\{\^LN-BEG\}/, '')
    .replace(/^\((?:\?:)?\^\|\\b\|\\W\)/, '')
    .replace(/\(\?=\\b\|\\W\|\$\)$/, '');
}

/**
 * Finds the date in a log line. Built from a filter's `datepattern` (one
 * pattern per line) or, without one, from all of fail2ban's default formats.
 *
 * The template that matched last is tried first, because a log file keeps
 * its format. An anchored template (at the line start) wins as soon as it
 * matches; among unanchored ones the date nearest the line start wins.
 */
export class DateDetector {
  readonly templates: DateTemplate[];
  /** `{NONE}`: lines state no time; they count as now. */
  readonly none: boolean;
  private last = 0;

  constructor(datepattern: string | undefined, now = new Date()) {
    const patterns = (datepattern ?? '')
      .split(/\n+/)
      .map((p) => p.trim())
      .filter(Boolean);
    this.none = patterns.length > 0 && patterns.every((p) => p.toUpperCase() === '{NONE}');
    const list: DateTemplate[] = [];
    const seen = new Set<string>();
    const add = (t: DateTemplate) => {
      if (seen.has(t.regex.source)) return;
      seen.add(t.regex.source);
      list.push(t);
    };
    if (patterns.length === 0) patterns.push('{DEFAULT}');
    for (const p of patterns) {
      const upper = p.toUpperCase();
      if (upper === '{NONE}') continue;
      if (upper === '{DEFAULT}' || upper === '{^LN-BEG}') {
        // Anchored variants first (fail2ban weighs them higher), then the originals.
        for (const d of DEFAULT_PATTERNS) if (!lineAnchored(d)) add(template('{^LN-BEG}' + d, now));
        for (const d of DEFAULT_PATTERNS) if (lineAnchored(d) || upper === '{DEFAULT}') add(template(d, now));
      } else if (/(?<!\\)\{DATE\}/i.test(p)) {
        for (const d of DEFAULT_PATTERNS) {
          if (d === 'EPOCH' || d === 'TAI64N') continue; // fail2ban would look for the word itself
          add(template(p.replace(/(?<!\\)\{DATE\}/gi, () => unbound(d)), now));
        }
      } else {
        add(template(p, now));
      }
    }
    this.templates = list;
  }

  /** The template and match of the last successful `find`. */
  template: DateTemplate | null = null;
  match: RegExpExecArray | null = null;

  /**
   * Find the date in `line`; on success `template` and `match` say where
   * (see dateSpan). Returns false when no template matches.
   */
  find(line: string): boolean {
    const ts = this.templates;
    const n = ts.length;
    if (n === 0) return false;
    const first = ts[this.last]!;
    let m = first.regex.exec(line);
    if (m !== null && (first.anchored || m.index === 0 || n === 1)) {
      this.template = first;
      this.match = m;
      return true;
    }
    let best: DateTemplate | null = m !== null ? first : null;
    let bestMatch = m;
    for (let i = 0; i < n; i++) {
      if (i === this.last) continue;
      const t = ts[i]!;
      m = t.regex.exec(line);
      if (m === null) continue;
      if (t.anchored || m.index === 0) {
        this.last = i;
        this.template = t;
        this.match = m;
        return true;
      }
      // Among unanchored dates the one nearest the line start wins.
      if (bestMatch === null || m.index < bestMatch.index) {
        best = t;
        bestMatch = m;
      }
    }
    if (best === null) return false;
    this.last = ts.indexOf(best);
    this.template = best;
    this.match = bestMatch;
    return true;
  }
}

/** Start and end of the date text (group 1) in `line`. */
export function dateSpan(t: DateTemplate, m: RegExpExecArray): [number, number] {
  if (t.cutAtEnd) {
    const end = m.index + m[0].length;
    return [end - (m[1]?.length ?? 0), end];
  }
  const idx = (m as RegExpExecArray & { indices?: Array<[number, number] | undefined> }).indices?.[1];
  if (!idx) return [m.index, m.index];
  return idx;
}
