import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FilterDefinition } from '../../src/config/filter-reader.js';
import { carriesLinesOver } from '../../src/cli/regex-split.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const CONF = join(ROOT, 'conf');

/** The CLI from the source tree; FLEETBAN_REGEX_THREADS forces how many threads split the file. */
function fleetban(threads: number, ...args: string[]) {
  return execa('npx', ['tsx', join(ROOT, 'src/cli/main.ts'), '-c', CONF, ...args], {
    reject: false,
    cwd: ROOT,
    env: { FLEETBAN_REGEX_THREADS: String(threads) },
  });
}

let dir: string;
let log: string;

/** A log with failures, noise, empty and comment lines, a bad byte and no "\n" at the end. */
function writeLog(path: string): void {
  const parts: Buffer[] = [];
  for (let i = 0; i < 3000; i++) {
    const s = String(i % 60).padStart(2, '0');
    const ip = `203.0.113.${i % 250}`;
    const lines = [
      `Mar  1 10:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${s} mx1 imapd: LOGIN FAILED, user=u${i}@example.com, ip=[::ffff:${ip}]`,
      `Mar  1 10:00:${s} mx1 imapd: LOGIN, user=ok@example.com, ip=[::ffff:192.0.2.10], port=[4000], protocol=IMAP`,
      `Mar  1 10:00:${s} mx2 pop3d-ssl: LOGIN FAILED, method=PLAIN, ip=[2001:db8::${(i % 4000).toString(16)}]`,
      i % 97 === 0 ? '' : '# a comment',
    ];
    parts.push(Buffer.from(lines.join('\n') + '\n'));
    if (i % 500 === 0) parts.push(Buffer.from([0x4d, 0x61, 0x72, 0x20, 0xff, 0xfe, 0x0a]));
  }
  parts.push(Buffer.from('Mar  1 11:00:00 mx1 imapd: LOGIN FAILED, user=last@example.com, ip=[::ffff:198.51.100.9]'));
  writeFileSync(path, Buffer.concat(parts));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fleetban-regex-split-'));
  log = join(dir, 'mail.log');
  writeLog(log);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('fleetban regex on a file split across threads', () => {
  it('prints exactly what one thread prints: counts, hits per regex, every failure with its line number', async () => {
    const one = await fleetban(1, 'regex', log, 'courier-auth', '--json');
    const three = await fleetban(3, 'regex', log, 'courier-auth', '--json');
    expect(one.exitCode).toBe(0);
    expect(three.exitCode).toBe(0);
    const a = JSON.parse(one.stdout) as Record<string, unknown> & { hits: { line: number; ip: string }[] };
    const b = JSON.parse(three.stdout) as typeof a;
    expect(a.threads).toBe(1);
    expect(b.threads).toBe(3);
    expect(a.matched).toBe(6001);
    expect(a.invalidUtf8).toBe(6);
    expect(a.hits.at(-1)).toMatchObject({ ip: '198.51.100.9' });
    for (const k of ['seconds', 'threads']) {
      delete a[k];
      delete b[k];
    }
    expect(b).toEqual(a);
  });

  it('shows the same human report, the first failures and missed lines included', async () => {
    const strip = (s: string) => s.replace(/\[processed in [\d.]+ sec\]/, '');
    const one = await fleetban(1, 'regex', log, 'vpopmail');
    const four = await fleetban(4, 'regex', log, 'vpopmail');
    expect(one.exitCode).toBe(four.exitCode);
    expect(strip(four.stdout)).toBe(strip(one.stdout));
    const oneAuth = await fleetban(1, 'regex', log, 'courier-auth');
    const fourAuth = await fleetban(4, 'regex', log, 'courier-auth');
    expect(strip(fourAuth.stdout)).toBe(strip(oneAuth.stdout));
    expect(fourAuth.stdout).toContain('Failures (first 20 of 6001)');
  });
});

describe('which filters may be split', () => {
  const def = (over: Partial<FilterDefinition>): FilterDefinition => ({
    name: 'x',
    files: [],
    failregex: [],
    ignoreregex: [],
    journalmatch: [],
    maxlines: 1,
    logtype: 'file',
    usedns: 'no',
    options: {},
    ...over,
  });
  const re = (text: string) => ({ text, where: { file: 'x.conf', line: 1, key: 'failregex' } });

  it('splits a one-line filter, never one that ties lines together', () => {
    expect(carriesLinesOver(def({ failregex: [re('^LOGIN FAILED, ip=\\[<HOST>\\]$')] }))).toBe(false);
    expect(carriesLinesOver(def({ maxlines: 2, failregex: [re('^x <HOST>$')] }))).toBe(true);
    for (const tag of ['<F-MLFID>', '<F-NOFAIL>', '<F-MLFGAINED>', '<F-MLFFORGET>']) {
      expect(carriesLinesOver(def({ failregex: [re(`^conn ${tag}\\d+</${tag.slice(1)} <HOST>$`)] }))).toBe(true);
    }
    expect(carriesLinesOver(def({ prefregex: re('^<F-MLFID>\\d+</F-MLFID> <F-CONTENT>.+</F-CONTENT>$'), failregex: [re('^<HOST>$')] }))).toBe(true);
  });
});
