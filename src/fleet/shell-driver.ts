import { randomBytes } from 'node:crypto';
import type { ActionFamily, ActionSpec } from '../config/action-reader.js';
import type { TagValues } from './command-template.js';
import type { Answer, AnswerParser, HostDriver, OpsUnit, HostOp } from './host-driver.js';
import type { LedgerWant } from './ledger.js';

/** Bans per batch command: an ipset restore of this many lines takes well under a second. */
export const SHELL_BATCH_MAX = 2000;
/** Output kept per command for the error text. */
const MAX_OUTPUT = 2000;

/**
 * Drives a host through /bin/sh on its end of the session. Each command is
 * framed so that the shell answers it with a line
 *   NONCE ID STATUS [EXTRA]
 * where NONCE is random per session, so no output of a command (which may
 * repeat text from a log line) can pass for an answer. Commands run with
 * stdin from /dev/null (or their batch lines), so none can read the stream
 * of commands that follows, and each runs in a subshell, as fail2ban runs
 * each in a shell of its own: an action's `exit`, `cd` or variables end with
 * it instead of ending or changing the session.
 */
export class ShellDriver implements HostDriver {
  readonly remoteCommand: string = 'exec /bin/sh';
  protected readonly nonce = `fb${randomBytes(8).toString('hex')}`;

  constructor(
    private readonly actions: (jail: string) => ActionSpec[],
    private readonly now: () => number = Date.now,
  ) {}

  hello(id: number): string {
    // read, not cat: a builtin, so the hello forks nothing.
    return `__fbb=; { read -r __fbb </proc/sys/kernel/random/boot_id; } 2>/dev/null\necho "${this.nonce} ${id} 0 $__fbb"\n`;
  }

  ensure(id: number, jail: string, family: ActionFamily): string | null {
    let body = '';
    for (const a of this.live(jail)) {
      const c = a.families[family];
      if (c.actioncheck !== undefined) {
        const start = c.actionstart !== undefined ? `( ${c.actionstart}\n) </dev/null 2>&1 || __fb=$?` : `echo 'actioncheck failed'; __fb=1`;
        body += `if ( ${c.actioncheck}\n) </dev/null >/dev/null 2>&1; then :; else __fs=started; ${start}; fi\n`;
      } else if (c.actionstart !== undefined) {
        body += `( ${c.actionstart}\n) </dev/null 2>&1 || __fb=$?\n`;
      }
    }
    if (!body) return null;
    return `__fb=0; __fs=\n${body}echo "${this.nonce} ${id} $__fb $__fs"\n`;
  }

  batchLimit(jail: string, want: LedgerWant, family: ActionFamily): number {
    const actions = this.live(jail);
    let batchable = false;
    for (const a of actions) {
      const c = a.families[family];
      const single = want === 'ban' ? c.actionban : c.actionunban;
      const batch = want === 'ban' ? c.banBatch : c.unbanBatch;
      if (single === undefined && batch === undefined) continue;
      if (batch === undefined) return 1;
      batchable = true;
    }
    return batchable ? SHELL_BATCH_MAX : 1;
  }

  ops(id: number, unit: OpsUnit): string {
    const now = this.now();
    let body = '';
    for (const a of this.live(unit.jail)) {
      const c = a.families[unit.family];
      const single = unit.want === 'ban' ? c.actionban : c.actionunban;
      const batch = unit.want === 'ban' ? c.banBatch : c.unbanBatch;
      if (unit.ops.length === 1 && single !== undefined) {
        body += `( ${single.script(values(unit.ops[0]!, now))}\n) </dev/null 2>&1 || __fb=$?\n`;
      } else if (batch !== undefined) {
        // The lines hold only canonical addresses and numbers (batch lines may
        // not use log text), and the quoted delimiter turns off expansion.
        const delim = `${this.nonce}_EOF`;
        let lines = '';
        for (const op of unit.ops) lines += `${batch.line.render(values(op, now))}\n`;
        body += `( ${batch.command}\n) 2>&1 <<'${delim}' || __fb=$?\n${lines}${delim}\n`;
      } else if (single !== undefined) {
        for (const op of unit.ops) body += `( ${single.script(values(op, now))}\n) </dev/null 2>&1 || __fb=$?\n`;
      }
    }
    return `__fb=0\n${body}echo "${this.nonce} ${id} $__fb"\n`;
  }

  flush(id: number, jail: string): string | null {
    let body = '';
    for (const a of this.live(jail)) {
      for (const family of ['inet4', 'inet6'] as const) {
        const f = a.families[family].actionflush;
        if (f !== undefined && !(family === 'inet6' && f === a.families.inet4.actionflush)) body += `( ${f}\n) </dev/null 2>&1 || __fb=$?\n`;
      }
    }
    return body ? `__fb=0\n${body}echo "${this.nonce} ${id} $__fb"\n` : null;
  }

  parser(): AnswerParser {
    const prefix = `${this.nonce} `;
    let output = '';
    return {
      feed(line: string): Answer | undefined {
        // A command whose output does not end with a newline (curl printing
        // a response body) puts the answer at the end of its last line.
        const at = line.lastIndexOf(prefix);
        if (at === -1 || !/^\d+ -?\d+( |$)/.test(line.slice(at + prefix.length))) {
          if (output.length < MAX_OUTPUT) output += (output ? '\n' : '') + line;
          return undefined;
        }
        if (at > 0 && output.length < MAX_OUTPUT) output += (output ? '\n' : '') + line.slice(0, at);
        const [idText, status, ...extra] = line.slice(at + prefix.length).split(' ');
        const text = output.slice(0, MAX_OUTPUT);
        output = '';
        const code = Number(status);
        return {
          id: Number(idText),
          ok: code === 0,
          text: code === 0 ? text : text || `exit status ${status}`,
          extra: extra.join(' ').trim(),
        };
      },
    };
  }

  /** The jail's actions that run (dry-run ones are logged by the dispatcher instead). */
  private live(jail: string): ActionSpec[] {
    return this.actions(jail).filter((a) => !a.dryRun);
  }
}

function values(op: HostOp, now: number): TagValues {
  return {
    ip: op.ip,
    bantime: op.bantime,
    until: op.until,
    failures: op.failures,
    time: op.time,
    restored: op.restored,
    fields: op.fields,
    matches: op.matches,
    now,
  };
}
