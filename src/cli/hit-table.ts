/** One failure as `--json` prints it. */
export interface JsonHit {
  line: number;
  ip: string;
  time: string | null;
  fields: Record<string, string>;
}

/**
 * The failures a scan found, as the report reads them: how many, the first
 * few as objects, and the JSON text of all of them. A HitTable is one; a
 * scan split across threads (regex-split.ts) has one made of its parts.
 */
export interface HitList {
  readonly length: number;
  /** Hit i (for the few the human report prints). */
  get(i: number): JsonHit;
  /** The JSON text of every hit in order, comma-separated inside each piece. */
  jsonChunks(): Iterable<string>;
}

/**
 * The failures found, kept compact until they are printed: a large log has
 * hundreds of thousands, and keeping an object per failure alive makes the
 * garbage collector copy them again and again. Numbers go into growing
 * typed arrays; addresses and field sets, which repeat, are interned.
 */
export class HitTable implements HitList {
  length = 0;
  private lines = new Int32Array(1024);
  private times = new Float64Array(1024);
  private ips = new Int32Array(1024);
  private fields = new Int32Array(1024);
  private readonly ipIds = new Map<string, number>();
  private readonly ipList: string[] = [];
  private readonly fieldIds = new Map<string, number>();
  private readonly fieldList: string[] = [];

  add(line: number, ip: string, time: number, fields: Record<string, string>): void {
    if (this.length === this.lines.length) this.grow();
    const i = this.length++;
    this.lines[i] = line;
    this.times[i] = time;
    this.ips[i] = intern(this.ipIds, this.ipList, ip);
    // Field sets repeat (the same user tried again); key them cheaply, print them once.
    let key = '';
    for (const k in fields) key += k + '\u0001' + fields[k] + '\u0002';
    let id = this.fieldIds.get(key);
    if (id === undefined) {
      id = this.fieldList.length;
      this.fieldList.push(JSON.stringify(fields));
      this.fieldIds.set(key, id);
    }
    this.fields[i] = id;
  }

  get(i: number): JsonHit {
    const t = this.times[i]!;
    return {
      line: this.lines[i]!,
      ip: this.ipList[this.ips[i]!]!,
      time: Number.isFinite(t) ? new Date(t).toISOString() : null,
      fields: JSON.parse(this.fieldList[this.fields[i]!]!) as Record<string, string>,
    };
  }

  /** The JSON text of hits [from, to), comma-separated; `lineOffset` is added to each line number. */
  json(from: number, to: number, lineOffset = 0): string {
    const parts: string[] = [];
    let lastTime = NaN;
    let lastIso = 'null';
    for (let i = from; i < to; i++) {
      const t = this.times[i]!;
      if (t !== lastTime) {
        lastTime = t;
        lastIso = Number.isFinite(t) ? `"${new Date(t).toISOString()}"` : 'null';
      }
      parts.push(
        `{"line":${this.lines[i]! + lineOffset},"ip":"${this.ipList[this.ips[i]!]}","time":${lastIso},"fields":${this.fieldList[this.fields[i]!]}}`,
      );
    }
    return parts.join(',');
  }

  /** The JSON text of every hit, comma-separated, in pieces of `batch` hits (so no one string is huge). */
  *jsonChunks(batch = 8192, lineOffset = 0): Generator<string> {
    for (let i = 0; i < this.length; i += batch) yield this.json(i, Math.min(this.length, i + batch), lineOffset);
  }

  private grow(): void {
    const n = this.lines.length * 2;
    const g = <T extends Int32Array | Float64Array>(a: T, b: T): T => {
      b.set(a);
      return b;
    };
    this.lines = g(this.lines, new Int32Array(n));
    this.times = g(this.times, new Float64Array(n));
    this.ips = g(this.ips, new Int32Array(n));
    this.fields = g(this.fields, new Int32Array(n));
  }
}

function intern(ids: Map<string, number>, list: string[], s: string): number {
  let id = ids.get(s);
  if (id === undefined) {
    id = list.length;
    list.push(s);
    ids.set(s, id);
  }
  return id;
}

