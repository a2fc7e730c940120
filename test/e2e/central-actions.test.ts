import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../helpers/requirements.js';
import { CLI, cli, removeConfDir, ServiceProcess, testConfDir } from '../helpers/service-process.js';
import { waitFor } from '../helpers/wait.js';

// Ports of this suite: 15660-15664.
const SYSLOG = 15660;
const SMTP = 15661;
const HTTP = 15662;

const F2B_ACTIONS = '/etc/fail2ban/action.d';

/** One mail as the sink received it. */
interface Mail {
  from: string;
  to: string[];
  data: string;
}

/**
 * The smallest SMTP server curl's client is content with (RFC 5321: greeting,
 * EHLO, MAIL, RCPT, DATA ended by a lone dot, QUIT), keeping what it is sent.
 */
function smtpSink(port: number, mails: Mail[]): Promise<Server> {
  const server = createServer((sock) => {
    sock.setEncoding('latin1');
    let buf = '';
    let inData = false;
    let mail: Mail = { from: '', to: [], data: '' };
    const say = (line: string) => sock.write(`${line}\r\n`);
    say('220 sink.test ESMTP');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          const start = buf.startsWith('.\r\n') ? 0 : -1;
          if (end === -1 && start === -1) return;
          const cut = start === 0 ? 0 : end + 2;
          mail.data = buf.slice(0, cut).replace(/^\.\./gm, '.');
          buf = buf.slice(cut + 3);
          inData = false;
          mails.push(mail);
          mail = { from: '', to: [], data: '' };
          say('250 2.0.0 queued');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl === -1) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') say('250 sink.test');
        else if (verb === 'MAIL') {
          mail.from = /<([^>]*)>/.exec(line)?.[1] ?? '';
          say('250 2.1.0 ok');
        } else if (verb === 'RCPT') {
          mail.to.push(/<([^>]*)>/.exec(line)?.[1] ?? '');
          say('250 2.1.5 ok');
        } else if (verb === 'DATA') {
          inData = true;
          say('354 end with <CRLF>.<CRLF>');
        } else if (verb === 'QUIT') {
          say('221 2.0.0 bye');
          sock.end();
        } else say('250 ok');
      }
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

interface Hook {
  fields: URLSearchParams;
  status: number;
}

/** A web service on loopback that refuses its first request (to show the retry), then accepts. */
function hookReceiver(port: number, hooks: Hook[]): Promise<HttpServer> {
  const server = createHttpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const status = hooks.length === 0 ? 503 : 200;
      hooks.push({ fields: new URLSearchParams(body), status });
      res.writeHead(status).end(status === 200 ? 'ok' : 'busy');
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

function vchkpwFailure(ip: string, user: string, pass: string): void {
  execFileSync('logger', [
    '--udp', '--server', '127.0.0.1', '--port', String(SYSLOG), '--rfc3164', '-t', 'vpopmail', '-i',
    `vchkpw-pop3: password fail (pass: '${pass}') ${user}:${ip}`,
  ]);
}

/**
 * `fleetban VERB --json` without blocking this process: the SMTP sink and
 * the web service answering the actions live in it.
 */
async function ask<T>(conf: string, ...args: string[]): Promise<T> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, '-c', conf, ...args, '--json'], { encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(stdout) as T;
}

interface BannedJson {
  jail: string;
  ip: string;
  hosts: Record<string, string>;
}

const skip = missing('central actions', { commands: ['logger', 'curl'] }) ?? (existsSync(join(F2B_ACTIONS, 'sendmail-whois-matches.conf')) ? undefined : 'fail2ban action files');

describe.skipIf(skip !== undefined)('actions run once per ban on the central host (central_action)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'fleetban-central-'));
  const marker = join(scratch, 'pwned');
  const mails: Mail[] = [];
  const hooks: Hook[] = [];
  let smtp: Server;
  let http: HttpServer;
  let conf: string;
  let svc: ServiceProcess;

  beforeAll(async () => {
    smtp = await smtpSink(SMTP, mails);
    http = await hookReceiver(HTTP, hooks);
    // The mail goes out through curl's SMTP client: a real submission path
    // with no MTA installed on the central host (with one, leave mailcmd as is).
    const mailcmd = `curl -q -sS --url smtp://127.0.0.1:${SMTP} --mail-from fleetban@example.org --mail-rcpt admin@example.org -T -`;
    conf = testConfDir({
      udp: SYSLOG,
      files: {
        'fleetban.d/central.local': '[fleetban]\nreconcile_interval = 2\n',
        'jail.local': [
          '[vpopmail]',
          'maxretry = 3',
          `central_action = sendmail-whois-matches[dest=admin@example.org, sender=fleetban@example.org, _whois_command="echo no whois in tests", mailcmd="${mailcmd}"]`,
          `                 webhook[url="http://127.0.0.1:${HTTP}/hook"]`,
          '',
        ].join('\n'),
      },
    });
    for (const f of ['sendmail-whois-matches.conf', 'sendmail-common.conf', 'mail-whois-common.conf', 'helpers-common.conf']) copyFileSync(join(F2B_ACTIONS, f), join(conf, 'action.d', f));
    svc = await ServiceProcess.start(conf);
  });
  afterAll(async () => {
    await svc?.stop('SIGKILL');
    if (conf) removeConfDir(conf);
    smtp?.close();
    http?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('check-config shows them as central actions of the jail', () => {
    const r = cli(conf, 'check-config');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/central:\s+sendmail-whois-matches: printf %b "Subject: \[Fail2Ban\] vpopmail: banned <ip>.*\(once per ban, on this host\)/);
    expect(r.stdout).toMatch(/central:\s+webhook: curl -q -sS --fail/);
  });

  it('mails the administrator once, with the matched lines, passwords removed and attacker text as plain text', async () => {
    const hostile = `$(touch\${IFS}${marker})\`touch\${IFS}${marker}\`@example.com`;
    // Failures of one hostile login, each with another password, until the
    // jail bans (on a loaded host the regex time limit may delay or cut a
    // line, which is not this suite's subject: a line is sent until it counts).
    const passwords = ['hunter2', 'correct horse', 's3cr3t', 'pa55-4', 'pa55-5', 'pa55-6', 'pa55-7', 'pa55-8'];
    for (const pass of passwords) {
      vchkpwFailure('203.0.113.77', hostile, pass);
      if ((await ask<BannedJson[]>(conf, 'banned')).some((b) => b.ip === '203.0.113.77')) break;
    }
    await waitFor('the ban mail', () => mails.some((m) => m.data.includes('banned 203.0.113.77')), 60_000, 250);
    const ban = mails.filter((m) => m.data.includes('banned 203.0.113.77'));
    expect(ban).toHaveLength(1);
    const mail = ban[0]!;
    expect(mail.from).toBe('fleetban@example.org');
    expect(mail.to).toEqual(['admin@example.org']);
    expect(mail.data).toMatch(/^Subject: \[Fail2Ban\] vpopmail: banned 203\.0\.113\.77 from /m);
    expect(mail.data).toMatch(/\d+ attempts against vpopmail/);
    // The three matched lines, as the mail servers logged them, less the passwords.
    const matched = mail.data.split(/\r?\n/).filter((l) => l.includes('vchkpw-pop3: password fail'));
    expect(matched).toHaveLength(3);
    for (const line of matched) expect(line).toContain(`${hostile}:203.0.113.77`);
    expect(mail.data).not.toMatch(/hunter2|correct horse|s3cr3t|pa55-/);
    // The jail's start was announced once, when the central session opened.
    expect(mails.filter((m) => m.data.includes('vpopmail: started on'))).toHaveLength(1);
    expect(existsSync(marker)).toBe(false);
  });

  it('posts the ban to the webhook, retries it after a refusal, and shows each action per ban in banned', async () => {
    await waitFor('the webhook accepted', () => hooks.some((h) => h.status === 200 && h.fields.get('ip') === '203.0.113.77'), 30_000);
    const first = hooks[0]!;
    expect(first.status).toBe(503);
    const ok = hooks.find((h) => h.status === 200)!;
    expect(ok.fields.get('event')).toBe('ban');
    expect(ok.fields.get('jail')).toBe('vpopmail');
    expect(Number(ok.fields.get('failures'))).toBeGreaterThanOrEqual(3);
    expect(ok.fields.get('user')).toBe(`$(touch\${IFS}${marker})\`touch\${IFS}${marker}\`@example.com`);
    expect(ok.fields.get('matches')!.split('\n')).toHaveLength(3);
    expect(ok.fields.get('matches')).not.toMatch(/hunter2|correct horse|s3cr3t|pa55-/);

    await waitFor('both central rows applied', async () => {
      const b = (await ask<BannedJson[]>(conf, 'banned')).find((x) => x.ip === '203.0.113.77');
      return (b?.hosts['central/webhook'] === 'applied' && b.hosts['central/sendmail-whois-matches'] === 'applied') || JSON.stringify(b);
    }, 30_000);
    // The webhook's retry did not mail the administrator again.
    expect(mails.filter((m) => m.data.includes('banned 203.0.113.77'))).toHaveLength(1);
    const hosts = await ask<{ name: string; connected: boolean }[]>(conf, 'hosts');
    expect(hosts.filter((h) => h.name.startsWith('central/')).map((h) => [h.name, h.connected])).toEqual([
      ['central/sendmail-whois-matches', true],
      ['central/webhook', true],
    ]);
    expect(existsSync(marker)).toBe(false);
  });

  it('tells the webhook of the unban', async () => {
    await promisify(execFile)(process.execPath, [CLI, '-c', conf, 'unban', 'vpopmail', '203.0.113.77']);
    await waitFor('the unban hook', () => hooks.some((h) => h.fields.get('event') === 'unban' && h.fields.get('ip') === '203.0.113.77'), 30_000);
  });
});
