import type { ActionFamily } from '../config/action-reader.js';
import type { LedgerWant } from './ledger.js';

/**
 * One ban or unban for one mail server, as the ledger hands it to the host's
 * session: the fleet's only operation type (the ban itself lives in src/bans/).
 */
export interface HostOp {
  /** fleet.conf section name. */
  host: string;
  op: 'ban' | 'unban';
  jail: string;
  ip: string;
  /** Seconds the ban lasts (-1 for ever), for the <bantime> action tag. */
  bantime: number;
  /** Failures counted, for the <failures> action tag. */
  failures: number;
  /** Ban time, ms since the epoch, for the <time> action tag. */
  time: number;
  /** Captured fields, for <F-*> tags; quoted or refused before they reach a shell. */
  fields: Record<string, string>;
  /** ms since the epoch when the ban ends; null for ever (for <bantime-left>). */
  until: number | null;
  /** Sent again by reconciliation rather than decided just now (fail2ban's <restored>). */
  restored: boolean;
  /** The matched lines of the ban, passwords removed (for <matches>; values from logs travel as data). */
  matches?: string[];
  /** Its batch failed: send it alone, to find out which ban the host refuses. */
  alone?: boolean;
}

/** Bans of one jail, one direction and one address family, sent as one command. */
export interface OpsUnit {
  jail: string;
  want: LedgerWant;
  family: ActionFamily;
  ops: HostOp[];
}

/** A host's answer to one command. */
export interface Answer {
  /** Which command, when the protocol says (the shell driver does); else the oldest in flight. */
  id?: number;
  ok: boolean;
  /** The command's output or the error text. */
  text: string;
  /** What follows the status: the boot id of a hello, "started" of a check. */
  extra: string;
}

/** Reads a session's output lines, one Answer per command. */
export interface AnswerParser {
  feed(line: string): Answer | undefined;
}

/**
 * How one session talks to its host: the shell driver sends rendered
 * action.d commands to /bin/sh, the remote driver sends `ban JAIL IP` lines
 * to fleetban-remote. One driver object serves one session.
 */
export interface HostDriver {
  /** The command ssh asks the server to run. */
  readonly remoteCommand: string;
  /** The first command of a session: proves it works and tells the boot id. */
  hello(id: number): string;
  /**
   * Make sure the jail's actions are set up on the host for this family
   * (actioncheck, and actionstart when the check fails); null when there is
   * nothing to set up. The answer's extra is "started" when the host had
   * lost them.
   */
  ensure(id: number, jail: string, family: ActionFamily): string | null;
  /** The largest batch for these bans (1: one command per ban). */
  batchLimit(jail: string, want: LedgerWant, family: ActionFamily): number;
  /** The command for a unit; throws when the jail cannot be served (the ops fail with its message). */
  ops(id: number, unit: OpsUnit): string;
  /** The command that runs actionflush for a jail, or null when it has none. */
  flush(id: number, jail: string): string | null;
  parser(): AnswerParser;
}
