/**
 * The time zone a stamp without an offset is read in. RFC 3164 stamps
 * (`Nov 21 19:28:18`) carry none: the writer's local time is meant, which is
 * the central host's unless fleetban.conf says otherwise for that sender
 * (`[listen] timezone = 198.18.0.0/16=Europe/Berlin`).
 *
 * Accepted names: `local` (the central host's zone), `UTC`/`GMT`/`Z`, a fixed
 * offset (`+02:00`, `-0500`, `UTC+2`), or an IANA zone name (`Europe/Berlin`).
 */

const HOUR_MS = 3_600_000;

type Kind = { kind: 'local' } | { kind: 'fixed'; offsetMs: number } | { kind: 'iana'; format: Intl.DateTimeFormat };

export class Timezone {
  static readonly utc = new Timezone('UTC', { kind: 'fixed', offsetMs: 0 });
  static readonly local = new Timezone('local', { kind: 'local' });

  /** Offsets of an IANA zone per hour of UTC, so the slow Intl lookup runs once an hour per zone. */
  private readonly offsets = new Map<number, number>();

  private constructor(
    readonly name: string,
    private readonly zone: Kind,
  ) {}

  /** Parse a zone name; throws a RangeError that says what is accepted. */
  static parse(spec: string): Timezone {
    const text = spec.trim();
    if (text === '' || text.toLowerCase() === 'local') return Timezone.local;
    if (/^(utc|gmt|z)$/i.test(text)) return Timezone.utc;
    const fixed = /^(?:utc|gmt)?([+-])(\d{1,2})(?::?(\d{2}))?$/i.exec(text);
    if (fixed) {
      const hours = Number(fixed[2]);
      const minutes = Number(fixed[3] ?? '0');
      if (hours > 14 || minutes > 59) throw new RangeError(`time zone offset out of range: ${spec}`);
      const sign = fixed[1] === '-' ? -1 : 1;
      return new Timezone(text, { kind: 'fixed', offsetMs: sign * (hours * 60 + minutes) * 60_000 });
    }
    let format: Intl.DateTimeFormat;
    try {
      format = new Intl.DateTimeFormat('en-US', {
        timeZone: text,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new RangeError(`unknown time zone ${JSON.stringify(spec)}: use local, UTC, an offset like +02:00, or a zone name like Europe/Berlin`);
    }
    return new Timezone(text, { kind: 'iana', format });
  }

  /** ms since the epoch of a wall-clock time in this zone (`month` 0-based). */
  toEpoch(year: number, month: number, day: number, hour: number, minute: number, second: number, ms: number): number {
    const z = this.zone;
    if (z.kind === 'local') return new Date(year, month, day, hour, minute, second, ms).getTime();
    const wall = Date.UTC(year, month, day, hour, minute, second, ms);
    if (z.kind === 'fixed') return wall - z.offsetMs;
    // Wall time minus the offset in force at that instant; a second look
    // settles the hours around a DST change.
    const guess = wall - this.offsetAt(wall);
    return wall - this.offsetAt(guess);
  }

  /** Offset from UTC (ms) in force at `epoch`. */
  offsetAt(epoch: number): number {
    const z = this.zone;
    if (z.kind === 'fixed') return z.offsetMs;
    if (z.kind === 'local') return -new Date(epoch).getTimezoneOffset() * 60_000;
    const hourKey = Math.floor(epoch / HOUR_MS);
    const cached = this.offsets.get(hourKey);
    if (cached !== undefined) return cached;
    // Zones change offset on a whole UTC hour almost everywhere; where they
    // do not (Newfoundland), stamps in the half hour after a change are read
    // with the old offset. Measuring at the hour's start keeps every stamp of
    // one hour consistent.
    const at = hourKey * HOUR_MS;
    const p: Record<string, number> = {};
    for (const part of z.format.formatToParts(at)) if (part.type !== 'literal') p[part.type] = Number(part.value);
    const offset = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) - at;
    if (this.offsets.size > 10_000) this.offsets.clear();
    this.offsets.set(hourKey, offset);
    return offset;
  }
}
