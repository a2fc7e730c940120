import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readServiceConfig } from '../../src/config/service-reader.js';
import { missing } from '../helpers/requirements.js';

/**
 * The .deb packages, built by packaging/deb/build.sh as an administrator's
 * build would, then looked at the way an administrator meets them:
 *  - unpacked with `dpkg -x` into a throwaway folder (no root needed): the
 *    fields, the conffiles, and the CLI run from the unpacked files;
 *  - installed with a real `dpkg -i` (maintainer scripts, dependencies),
 *    as root, in a private mount namespace over overlays of /etc, /usr and
 *    /var: the install is real for everything inside and vanishes with the
 *    namespace, so this machine (and the other suites running on it) never
 *    sees a fleetban user or a /usr/bin/fleetban.
 */

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { version: string };
const debVersion = `${pkg.version}-1`;
const nodeMajor = Number(process.versions.node.split('.')[0]);

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Outcome> {
  try {
    const r = await run(cmd, args, { ...opts, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out.sort();
}

// A vchkpw failure as a mail server's syslog writes it (vchkpw logs no pid);
// 203.0.113.45 guesses.
const VCHKPW_LINE = 'Nov 21 10:15:02 mx1 vchkpw-pop3: vpopmail user not found www@example.com:203.0.113.45';

let work = '';
let debs = { main: '', remote: '' };

async function buildOnce(): Promise<void> {
  if (work) return;
  work = await mkdtemp(join(tmpdir(), 'fleetban-deb-'));
  const out = join(work, 'out');
  const built = await sh('bash', [join(repo, 'packaging/deb/build.sh'), '--out', out], { cwd: repo });
  if (built.code !== 0) throw new Error(`packaging/deb/build.sh failed (${built.code}):\n${built.stdout}${built.stderr}`);
  const arch = (await sh('dpkg', ['--print-architecture'])).stdout.trim();
  debs = {
    main: join(out, `fleetban_${debVersion}_${arch}.deb`),
    remote: join(out, `fleetban-remote_${debVersion}_all.deb`),
  };
}

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe.skipIf(missing('packaging: the .deb packages', { commands: ['dpkg-deb', 'bash'] }))(
  'the .deb packages, unpacked with dpkg -x',
  () => {
    let root = '';
    let fleetban = '';
    let etc = '';

    beforeAll(async () => {
      await buildOnce();
      root = join(work, 'root');
      const x = await sh('dpkg', ['-x', debs.main, root]);
      if (x.code !== 0) throw new Error(`dpkg -x: ${x.stderr}`);
      fleetban = join(root, 'usr/bin/fleetban');
      etc = join(root, 'etc/fleetban');
    }, 300_000);

    it('are named after package, version and architecture', async () => {
      expect((await stat(debs.main)).size).toBeGreaterThan(100_000);
      expect((await stat(debs.remote)).size).toBeGreaterThan(500);
      expect((await sh('dpkg-deb', ['-f', debs.main, 'Package', 'Version'])).stdout).toBe(
        `Package: fleetban\nVersion: ${debVersion}\n`,
      );
      expect((await sh('dpkg-deb', ['-f', debs.remote, 'Package', 'Architecture'])).stdout).toBe(
        'Package: fleetban-remote\nArchitecture: all\n',
      );
    });

    it('depend on the Node.js major the SQLite addon was built for, and on the ssh client', async () => {
      const depends = (await sh('dpkg-deb', ['-f', debs.main, 'Depends'])).stdout.trim();
      expect(depends.split(/,\s*/)).toEqual(
        expect.arrayContaining(['nodejs (>= 20)', `nodejs (<< ${nodeMajor + 1})`, 'openssh-client', 'adduser']),
      );
    });

    it('mark every file of /etc/fleetban as a conffile, and ship the files of conf/', async () => {
      const ctrl = join(work, 'ctrl');
      await sh('dpkg-deb', ['-e', debs.main, ctrl]);
      const conffiles = (await readFile(join(ctrl, 'conffiles'), 'utf8')).trim().split('\n').sort();
      const shipped = (await filesUnder(etc)).map((f) => `/${relative(root, f)}`);
      expect(conffiles).toEqual(shipped);
      const inRepo = (await filesUnder(join(repo, 'conf')))
        .map((f) => `/etc/fleetban/${relative(join(repo, 'conf'), f)}`)
        .filter((f) => !f.endsWith('.local'));
      expect(shipped).toEqual(inRepo);
      expect(conffiles).toContain('/etc/fleetban/fleetban.conf');
    });

    it('ship fleetban.conf for a central host: state in /var/lib/fleetban, syslog on port 514', async () => {
      const packaged = (await readFile(join(etc, 'fleetban.conf'), 'utf8')).split('\n');
      const original = (await readFile(join(repo, 'conf/fleetban.conf'), 'utf8')).split('\n');
      expect(packaged.length).toBe(original.length);
      const changed = packaged.filter((line, i) => line !== original[i]);
      expect(changed).toEqual(['statedir = /var/lib/fleetban', 'udp = 0.0.0.0:514', 'tcp = 0.0.0.0:514']);
      // Read back with fleetban's own reader: the edited file is valid.
      const conf = readServiceConfig(etc);
      expect(conf.stateDir).toBe('/var/lib/fleetban');
      expect(conf.socket).toBe('/var/lib/fleetban/fleetban.sock');
      expect(conf.listen.udp).toEqual([{ host: '0.0.0.0', port: 514 }]);
      expect(conf.listen.tcp).toEqual([{ host: '0.0.0.0', port: 514 }]);
    });

    it('carry production dependencies only, with a SQLite addon that loads', async () => {
      const app = join(root, 'usr/lib/fleetban');
      const modules = await readdir(join(app, 'node_modules'));
      expect(modules).toEqual(expect.arrayContaining(['better-sqlite3', 'commander', 'pino', 'prom-client', 'execa']));
      for (const dev of ['typescript', 'vitest', 'tsx', 'esbuild', '@types']) expect(modules).not.toContain(dev);
      // The compiled application only: no source maps pointing at absent .ts files.
      expect((await filesUnder(join(app, 'dist'))).filter((f) => !f.endsWith('.js'))).toEqual([]);
      const sqlite = await sh(
        'node',
        ['-e', 'const D = require("better-sqlite3"); const db = new D(":memory:"); ' +
          'db.exec("create table bans (ip text)"); db.prepare("insert into bans values (?)").run("203.0.113.45"); ' +
          'console.log(db.prepare("select count(*) n from bans").get().n)'],
        { cwd: app },
      );
      expect(sqlite.stderr).toBe('');
      expect(sqlite.stdout.trim()).toBe('1');
    });

    it('ship the unit and the forwarding examples for the mail servers', async () => {
      const unit = await readFile(join(root, 'usr/lib/systemd/system/fleetban.service'), 'utf8');
      expect(unit).toBe(await readFile(join(repo, 'packaging/systemd/fleetban.service'), 'utf8'));
      const examples = await readdir(join(root, 'usr/share/fleetban/forwarding'));
      expect(examples.sort()).toEqual((await readdir(join(repo, 'packaging/forwarding'))).sort());
    });

    it('run `fleetban --help` through /usr/bin/fleetban', async () => {
      const help = await sh(fleetban, ['--help']);
      expect(help.code).toBe(0);
      for (const verb of ['run', 'regex', 'check-config', 'status', 'banned', 'ban', 'unban', 'reload']) {
        expect(help.stdout).toMatch(new RegExp(`^\\s+${verb}\\b`, 'm'));
      }
    });

    it('validate the installed configuration with `fleetban check-config`', async () => {
      const checked = await sh(fleetban, ['-c', etc, 'check-config']);
      expect(checked.stderr).toBe('');
      expect(checked.code).toBe(0);
      // The jails the shipped jail.conf enables, with their filters.
      for (const jail of ['vpopmail', 'courier-auth', 'courier-smtp']) expect(checked.stdout).toContain(jail);
      expect(checked.stdout).toContain('dry-run');
    });

    it('find the attacker in a vchkpw line with `fleetban regex` and the installed filter', async () => {
      const tested = await sh(fleetban, ['-c', etc, 'regex', VCHKPW_LINE, 'vpopmail', '--json']);
      expect(tested.stderr).toBe('');
      expect(tested.code).toBe(0);
      const result = JSON.parse(tested.stdout) as { lines: number; matched: number; hits: { line: number; ip: string }[] };
      expect(result.lines).toBe(1);
      expect(result.matched).toBe(1);
      expect(result.hits).toEqual([expect.objectContaining({ line: 1, ip: '203.0.113.45' })]);
    });

    it('put fleetban-remote in /usr/sbin with its settings file, and it answers requests', async () => {
      const listing = (await sh('dpkg-deb', ['-c', debs.remote])).stdout;
      expect(listing).toMatch(/^-rwxr-xr-x root\/root .* \.\/usr\/sbin\/fleetban-remote$/m);
      const ctrl = join(work, 'remote-ctrl');
      await sh('dpkg-deb', ['-e', debs.remote, ctrl]);
      expect(await readFile(join(ctrl, 'conffiles'), 'utf8')).toBe('/etc/fleetban/remote.conf\n');
      const remoteRoot = join(work, 'remote-root');
      await sh('dpkg', ['-x', debs.remote, remoteRoot]);
      const helper = join(remoteRoot, 'usr/sbin/fleetban-remote');
      expect(await readFile(helper, 'utf8')).toBe(await readFile(join(repo, 'packaging/remote/fleetban-remote'), 'utf8'));
      // Requests that need no firewall: a greeting, and two refused as invalid.
      const answers = await sh('sh', ['-c', `printf 'hello\\nban bad;jail 203.0.113.45\\nban vpopmail 203.0.113.999\\n' | "$0" -c "$1"`,
        helper, join(remoteRoot, 'etc/fleetban/remote.conf')]);
      const lines = answers.stdout.trim().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/^ok fleetban-remote \d+ /);
      expect(lines[1]).toMatch(/^err /);
      expect(lines[2]).toMatch(/^err /);
    });
  },
);

/**
 * The install as dpkg does it. One shell script runs in a private mount and
 * network namespace: /etc, /usr and /var are overlays whose writes land in
 * a tmpfs, so `dpkg -i`, the fleetban user, /var/lib/fleetban and port 514
 * exist only there, and its own pid namespace ends every process it started.
 * Each step prints `== NAME`, its output and `rc=N`.
 */
const NAMESPACE_SCRIPT = String.raw`
set -u
T=$1; MAIN=$2; REMOTE=$3
mount -t tmpfs tmpfs "$T"
for d in etc usr var; do
  mkdir -p "$T/u/$d" "$T/w/$d"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$T/u/$d,workdir=$T/w/$d" "/$d"
done
ip link set lo up
step() { name=$1; shift; echo "== $name"; "$@" 2>&1; echo "rc=$?"; }
# What the unit grants: user fleetban, its groups, only CAP_NET_BIND_SERVICE.
# (A command prefix, split into words where it is used.)
AS_SERVICE="setpriv --reuid=fleetban --regid=fleetban --init-groups --no-new-privs
  --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service
  --bounding-set=-all,+net_bind_service env HOME=/var/lib/fleetban"

step install dpkg -i "$MAIN" "$REMOTE"
step passwd getent passwd fleetban
step groups id -nG fleetban
step modes stat -c '%n %U:%G %a' /var/lib/fleetban /var/lib/fleetban/.ssh /etc/fleetban /usr/sbin/fleetban-remote
step verify systemd-analyze verify /usr/lib/systemd/system/fleetban.service
step security systemd-analyze security --offline=yes /usr/lib/systemd/system/fleetban.service
sed 's/^Restart=on-failure/Restart=sometimes/' /usr/lib/systemd/system/fleetban.service > /usr/lib/systemd/system/broken.service
step verify-broken systemd-analyze verify /usr/lib/systemd/system/broken.service
step check-config $AS_SERVICE /usr/bin/fleetban check-config

# The service as systemd would start it: its user, port 514, /var/lib/fleetban.
# The subshell execs, so $pid is fleetban itself (it gets the SIGTERM).
(cd /var/lib/fleetban && exec $AS_SERVICE /usr/bin/fleetban run) > "$T/run.log" 2>&1 &
pid=$!
i=0
while [ $i -lt 150 ] && ! ss -Hltn 'sport = :514' | grep -q . && kill -0 $pid 2>/dev/null; do sleep 0.1; i=$((i+1)); done
step listening ss -Hlnut 'sport = :514'
step status /usr/bin/fleetban status --json
kill -TERM $pid 2>/dev/null
step run-exit wait $pid
echo "== run-log"; cat "$T/run.log"; echo "rc=0"
cd /

step purge dpkg --purge fleetban
step after-purge test -e /var/lib/fleetban
`;

describe.skipIf(
  missing('packaging: dpkg -i in a throwaway namespace', {
    root: true,
    commands: ['dpkg-deb', 'unshare', 'setpriv', 'systemd-analyze', 'ss', 'ip'],
  }),
)('the .deb packages, installed with dpkg -i', () => {
  const steps = new Map<string, Outcome>();

  beforeAll(async () => {
    await buildOnce();
    const script = join(work, 'install.sh');
    await writeFile(script, NAMESPACE_SCRIPT);
    const mnt = await mkdtemp(join(tmpdir(), 'fleetban-deb-ns-'));
    try {
      // --pid --fork: whatever the script leaves running ends with it.
      const r = await sh('unshare', ['--mount', '--net', '--pid', '--fork', '--mount-proc', '--propagation', 'private',
        'sh', script, mnt, debs.main, debs.remote]);
      // Split the transcript into its steps.
      for (const m of r.stdout.matchAll(/^== (\S+)\n([\s\S]*?)^rc=(\d+)$/gm)) {
        steps.set(m[1]!, { code: Number(m[3]), stdout: m[2]!, stderr: '' });
      }
      if (!steps.has('install')) throw new Error(`namespace script failed:\n${r.stdout}${r.stderr}`);
    } finally {
      await rm(mnt, { recursive: true, force: true });
    }
  }, 300_000);

  const step = (name: string): Outcome => {
    const s = steps.get(name);
    if (!s) throw new Error(`step ${name} did not run`);
    return s;
  };

  it('installs both packages, their dependencies met on this Debian', () => {
    expect(step('install').stdout).toContain('Setting up fleetban (');
    expect(step('install').stdout).toContain('Setting up fleetban-remote (');
    expect(step('install').code).toBe(0);
  });

  it('creates the fleetban system user, its home on the state folder, no login shell', () => {
    const fields = step('passwd').stdout.trim().split(':');
    expect(fields[0]).toBe('fleetban');
    expect(Number(fields[2])).toBeLessThan(1000);
    expect(fields[5]).toBe('/var/lib/fleetban');
    expect(fields[6]).toBe('/usr/sbin/nologin');
  });

  it('lets the fleetban user read the local and the journal-remote journals', () => {
    expect(step('groups').stdout.trim().split(' ')).toEqual(
      expect.arrayContaining(['fleetban', 'systemd-journal', 'systemd-journal-remote']),
    );
  });

  it('keeps the state, the SSH folder and the configuration to root and the service', () => {
    expect(step('modes').stdout.trim().split('\n')).toEqual([
      '/var/lib/fleetban fleetban:fleetban 750',
      '/var/lib/fleetban/.ssh fleetban:fleetban 700',
      '/etc/fleetban root:fleetban 750',
      '/usr/sbin/fleetban-remote root:root 755',
    ]);
  });

  it('installs a unit that passes systemd-analyze verify (which does flag a broken one)', () => {
    expect(step('verify')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(step('verify-broken').stdout).toContain('Failed to parse service restart specifier');
  });

  it('installs a sandboxed unit: systemd-analyze security rates its exposure low', () => {
    const rating = /Overall exposure level for fleetban\.service: ([\d.]+) (\w+)/.exec(step('security').stdout);
    expect(rating, step('security').stdout).not.toBeNull();
    // 0 is fully locked down, 10 is a unit without any sandboxing; 1.9 when written.
    expect(Number(rating![1])).toBeLessThan(2.5);
  });

  it('lets the service user check its configuration in /etc/fleetban (the default -c)', () => {
    expect(step('check-config').code).toBe(0);
    expect(step('check-config').stdout).toContain('vpopmail');
  });

  it('runs as the service user with only CAP_NET_BIND_SERVICE: port 514, status, clean SIGTERM', () => {
    const log = step('run-log').stdout;
    expect(step('listening').stdout, log).toMatch(/^udp .*:514\b/m);
    expect(step('listening').stdout, log).toMatch(/^tcp .*LISTEN.*:514\b/m);
    expect(step('status').code, step('status').stdout + log).toBe(0);
    expect(() => JSON.parse(step('status').stdout) as unknown).not.toThrow();
    expect(step('run-exit').code, log).toBe(0);
  });

  it('removes the state on purge', () => {
    expect(step('purge').code).toBe(0);
    expect(step('after-purge').code).not.toBe(0);
  });
});
