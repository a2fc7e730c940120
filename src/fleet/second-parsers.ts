import type { ShellCommand, ShellScan, TagContext } from './shell-syntax.js';

/**
 * The rule that keeps a value from a log line from being read as code after
 * it left the shell that runs the action. That shell never parses it (it
 * arrives as a variable, see command-template.ts); a second parser would:
 * a shell given a string (`sh -c`, `su -c`, `ssh host ...`), `eval`, `.`,
 * `trap`, `xargs`, a script interpreter, bash's arithmetic. So a command
 * that uses such a value may not run any of them, anywhere in the command,
 * whatever it passes them: a value can flow there through a variable, a
 * pipe or a file, and following that flow would be another guess.
 *
 * The rule is about the whole command text of one action key (actionban,
 * actionunban), not one simple command; a sound rule may refuse a command
 * that was harmless, and says why, so the action can be split or rewritten.
 */

/** Programs that run a string, a file or their standard input as code: never in a command that carries log text. */
const CODE_RUNNERS = new Set([
  'sh', 'bash', 'dash', 'ash', 'ksh', 'ksh93', 'mksh', 'pdksh', 'zsh', 'yash', 'posh', 'csh', 'tcsh', 'fish', 'rbash',
  'eval', '.', 'source', 'trap', 'let', 'declare', 'typeset', 'mapfile', 'readarray', 'getopts', 'alias', 'fc',
  'su', 'runuser', 'pkexec', 'machinectl',
  'ssh', 'rsh', 'slogin', 'mosh',
  'xargs', 'parallel', 'watch', 'script', 'at', 'batch', 'crontab',
  'perl', 'python', 'python2', 'python3', 'ruby', 'php', 'node', 'nodejs', 'deno', 'lua', 'luajit', 'tclsh', 'wish', 'expect', 'Rscript',
  'gdb', 'vim', 'vi', 'ex', 'ed', 'emacs', 'make', 'm4', 'dc',
]);

/**
 * Programs that run another program from their arguments (argv, not a
 * string): allowed only when none of their words carries log text or an
 * expansion, and none names a code runner, since the program they run and
 * its options cannot be told apart without knowing each one's options.
 */
const WRAPPERS = new Set([
  'exec', 'command', 'builtin', 'env', 'nohup', 'nice', 'ionice', 'timeout', 'stdbuf', 'time', 'chrt', 'taskset', 'setsid',
  'sudo', 'doas', 'chroot', 'nsenter', 'unshare', 'systemd-run', 'cgexec', 'firejail', 'bwrap', 'flock', 'busybox', 'toybox', 'find',
]);

/** Interpreters whose program is an argument: allowed with a constant program (no tag, no expansion in any word). */
const SCRIPTED = new Set(['awk', 'gawk', 'mawk', 'nawk', 'sed', 'gsed', 'jq', 'yq', 'bc']);

/** Builtins that take values as data, but parse some options as names or arithmetic (printf -v, export -n, read -a). */
const OPTION_SENSITIVE = new Set(['printf', 'export', 'readonly', 'local', 'read']);

/** Where a value from a log line may stand: a bare word (fleetban quotes it) or inside double quotes. */
export const DATA_CONTEXTS: ReadonlySet<TagContext> = new Set(['bare', 'double', 'comment']);

const CONTEXT_WHY: Record<TagContext, string> = {
  bare: '',
  double: '',
  comment: '',
  single: 'inside single quotes, where the text goes as it is to a program that usually parses it (nft, awk, sh -c); put it in double quotes',
  escaped: 'after a backslash, where it would not be one quoted word',
  backtick: 'inside backticks, which sh parses a second time; use $(...)',
  param: 'inside ${...}, where bash evaluates offsets and subscripts as arithmetic',
  arith: 'inside arithmetic, which bash evaluates as code',
  heredoc: 'inside a here-document, which is input to another program (often a parser: sh, nft -f, ip -batch)',
  redirect: 'as the name of a file to redirect to or from',
};

/** Why `context` cannot hold a value from a log line, or null when it can. */
export function contextProblem(context: TagContext): string | null {
  return DATA_CONTEXTS.has(context) ? null : CONTEXT_WHY[context];
}

/**
 * Why a command that uses values from log lines would hand them to a second
 * parser, or null. `tag` names the value in the message.
 */
export function secondParserProblem(scan: ShellScan, tag: string): string | null {
  for (const cmd of scan.commands) {
    const why = commandProblem(cmd, tag);
    if (why) return why;
  }
  return null;
}

const prefix = (tag: string) => `<${tag}> carries text from log lines`;

function commandProblem(cmd: ShellCommand, tag: string): string | null {
  const [first, ...args] = cmd.words;
  if (cmd.arithmetic) return `${prefix(tag)} and the command uses arithmetic ((( )), $(( )) or [[ ]]), which bash evaluates as code`;
  for (const a of cmd.assignments) {
    if (/^[A-Za-z_][A-Za-z0-9_]*\[/.test(a.text)) return `${prefix(tag)} and the command assigns to an array element, whose subscript bash evaluates as code`;
  }
  if (!first) return null;
  if (first.data) return `${prefix(tag)} and would name the program to run`;
  if (first.dynamic) {
    return `${prefix(tag)} and the command runs a program named by an expansion (${JSON.stringify(first.text.slice(0, 40))}), which could be a shell or eval`;
  }
  const name = basename(first.text);
  if (CODE_RUNNERS.has(name)) {
    return `${prefix(tag)} and the command runs ${name}, which ${RUNNER_WHY[name] ?? 'runs a string or its input as code'}; a command that carries log text may run no second parser`;
  }
  if (WRAPPERS.has(name)) {
    const bad = args.find((w) => w.data || w.dynamic || CODE_RUNNERS.has(basename(w.text)) || SCRIPTED.has(basename(w.text)) || WRAPPERS.has(basename(w.text)) || /^-(c|S)$|^--(command|split-string)/.test(w.text));
    if (bad) return `${prefix(tag)} and the command runs ${name} with ${JSON.stringify(bad.text.slice(0, 40))}, which may be a second parser; run the program directly`;
    return null;
  }
  if (SCRIPTED.has(name)) {
    if (cmd.words.some((w) => w.data || w.dynamic)) {
      return `${prefix(tag)} and the command runs ${name} with a program that is not constant; ${name} would parse the value as code`;
    }
    return null;
  }
  if (OPTION_SENSITIVE.has(name)) {
    const opt = args.find((w) => w.dynamic ? false : name === 'read' ? /^-[^r]/.test(w.text) : name === 'printf' ? w.text === '-v' : /^-/.test(w.text));
    if (opt) return `${prefix(tag)} and ${name} ${opt.text} takes a name or arithmetic from its arguments`;
  }
  return null;
}

const RUNNER_WHY: Record<string, string> = {
  eval: 'parses its arguments as shell code',
  '.': 'reads a file as shell code',
  source: 'reads a file as shell code',
  trap: 'parses its action as shell code',
  ssh: 'joins its arguments into a string for the remote shell',
  xargs: 'splits its input by its own quoting rules into commands',
  su: 'hands -c to a shell',
  runuser: 'hands -c to a shell',
};

function basename(word: string): string {
  const slash = word.lastIndexOf('/');
  return slash === -1 ? word : word.slice(slash + 1);
}
