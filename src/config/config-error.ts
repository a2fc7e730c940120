/** Where a configuration value came from. */
export interface ConfigLocation {
  file?: string;
  line?: number;
  section?: string;
  key?: string;
}

/**
 * A configuration mistake. The message names the file, the line, the section
 * and the key, so an administrator can go straight to it:
 * `conf/jail.local:12: [vpopmail] maxretry: not a number: "five"`.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly file?: string;
  readonly line?: number;
  readonly section?: string;
  readonly key?: string;
  /** The bare complaint, without the location prefix. */
  readonly reason: string;

  constructor(reason: string, where: ConfigLocation = {}) {
    super(formatLocation(where) + reason);
    this.reason = reason;
    this.file = where.file;
    this.line = where.line;
    this.section = where.section;
    this.key = where.key;
  }
}

function formatLocation(w: ConfigLocation): string {
  let s = '';
  if (w.file) s += w.line ? `${w.file}:${w.line}: ` : `${w.file}: `;
  if (w.section !== undefined) s += `[${w.section}] `;
  if (w.key !== undefined) s += `${w.key}: `;
  return s;
}
