/**
 * fail2ban's time values (jail.conf `bantime`, `findtime`, `bantime.maxtime`,
 * ...), in seconds. The forms fail2ban accepts carry over unchanged:
 *
 *   600        plain seconds          -1        for ever (where allowed)
 *   10m  1h    a number and a unit    1d12h     several, summed
 *   1h 30m     spaces sum as well     1y-6mo    + and - between parts
 *   2*1h       and * or / with parentheses
 *
 * Units, case-insensitive, as fail2ban spells them: s/sec/second(s),
 * m/mm/min/minute(s), h/hh/hour(s), d/dd/da/day(s), w/ww/wee/week(s),
 * mo/mon/month(s), y/yy/yea/year(s). A month is a twelfth of a year and a
 * year is 365.25 days, as fail2ban counts them, so `1mo` is 2629800 s.
 */

const DAY = 86400;
const YEAR = DAY * 365.25;

const UNITS = new Map<string, number>();
for (const [names, seconds] of [
  ['s ss sec second seconds', 1],
  ['m mm min minute minutes', 60],
  ['h hh hou hour hours', 3600],
  ['d dd da day days', DAY],
  ['w ww wee week weeks', 7 * DAY],
  ['mo mon month months', YEAR / 12],
  ['y yy yea year years', YEAR],
] as const) {
  for (const n of names.split(' ')) UNITS.set(n, seconds);
}

/** Parse a time value; returns null when `text` is not one. */
export function parseTimeValue(text: string): number | null {
  const p = new TimeParser(text.trim().toLowerCase());
  if (p.text.length === 0 || p.text.length > 200) return null;
  const v = p.sum();
  if (v === null || p.pos !== p.text.length || !Number.isFinite(v)) return null;
  return v;
}

class TimeParser {
  pos = 0;
  constructor(readonly text: string) {}

  private skipSpaces(): void {
    while (this.text.charCodeAt(this.pos) === 32 || this.text.charCodeAt(this.pos) === 9) this.pos++;
  }

  /** sum := product (('+' | '-' | spaces) product)* */
  sum(): number | null {
    let total = this.product();
    if (total === null) return null;
    for (;;) {
      const before = this.pos;
      this.skipSpaces();
      const c = this.text[this.pos];
      if (c === '+' || c === '-') {
        this.pos++;
        const rhs = this.product();
        if (rhs === null) return null;
        total = c === '+' ? total + rhs : total - rhs;
      } else if (this.pos > before && c !== undefined && c !== ')' && c !== '*' && c !== '/') {
        // Parts standing side by side ("1h 30m") add up.
        const rhs = this.product();
        if (rhs === null) return null;
        total += rhs;
      } else if (this.pos === before && c !== undefined && /[0-9.(]/.test(c)) {
        // "1d12h": a unit followed directly by the next number.
        const rhs = this.product();
        if (rhs === null) return null;
        total += rhs;
      } else {
        return total;
      }
    }
  }

  /** product := unary (('*' | '/') unary)* */
  private product(): number | null {
    let v = this.unary();
    if (v === null) return null;
    for (;;) {
      this.skipSpaces();
      const c = this.text[this.pos];
      if (c !== '*' && c !== '/') return v;
      this.pos++;
      const rhs = this.unary();
      if (rhs === null) return null;
      v = c === '*' ? v * rhs : v / rhs;
    }
  }

  /** unary := ('-' | '+') unary | '(' sum ')' unit? | number unit? */
  private unary(): number | null {
    this.skipSpaces();
    const c = this.text[this.pos];
    if (c === '-' || c === '+') {
      this.pos++;
      const v = this.unary();
      return v === null ? null : c === '-' ? -v : v;
    }
    let v: number;
    if (c === '(') {
      this.pos++;
      const inner = this.sum();
      this.skipSpaces();
      if (inner === null || this.text[this.pos] !== ')') return null;
      this.pos++;
      v = inner;
    } else {
      const m = /^(?:\d+(?:\.\d*)?|\.\d+)/.exec(this.text.slice(this.pos));
      if (!m) return null;
      this.pos += m[0].length;
      v = Number(m[0]);
    }
    const save = this.pos;
    this.skipSpaces();
    const u = /^[a-z]+/.exec(this.text.slice(this.pos));
    if (u) {
      const unit = UNITS.get(u[0]);
      if (unit === undefined) return null;
      this.pos += u[0].length;
      v *= unit;
    } else {
      this.pos = save;
    }
    return v;
  }
}

/**
 * Seconds for people: `1w 2d`, `1h 30m`, `45s`: the three largest non-zero
 * parts (what is left below them is dropped); `permanent` when negative.
 */
export function formatTimeValue(seconds: number): string {
  if (seconds < 0) return 'permanent';
  let s = Math.round(seconds);
  if (s === 0) return '0s';
  const parts: string[] = [];
  for (const [unit, size] of [
    ['y', 365 * DAY],
    ['w', 7 * DAY],
    ['d', DAY],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (s >= size && parts.length < 3) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  return parts.join(' ');
}
