#!/usr/bin/env node
// Installs the Debian packages the real-part suites need, when it can (root
// and apt-get). Without them those suites skip with a line saying so, except
// under CI=true, where this script fails the run instead.
import { execFileSync, spawnSync } from 'node:child_process';

const PACKAGES = {
  // command that proves the package is there -> Debian package
  sshd: 'openssh-server',
  ssh: 'openssh-client',
  rsyslogd: 'rsyslog',
  '/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so': 'rsyslog-gnutls',
  '/lib/systemd/systemd-journal-remote': 'systemd-journal-remote',
  ip: 'iproute2',
  iptables: 'iptables',
  ipset: 'ipset',
  nft: 'nftables',
  'fail2ban-regex': 'fail2ban',
  '/usr/lib/python3/dist-packages/systemd/journal.py': 'python3-systemd',
  openssl: 'openssl',
  certtool: 'gnutls-bin',
  logger: 'bsdutils',
  'systemd-analyze': 'systemd',
  journalctl: 'systemd',
  curl: 'curl',
  'dpkg-deb': 'dpkg',
  // The cluster suites start their own PostgreSQL; the page is tested in Chromium.
  '/usr/lib/postgresql/15/bin/initdb': 'postgresql-15',
  chromium: 'chromium',
};

function have(probe) {
  if (probe.startsWith('/')) return spawnSync('test', ['-e', probe]).status === 0;
  return spawnSync('sh', ['-c', `command -v ${probe}`], { stdio: 'ignore' }).status === 0;
}

const missing = [...new Set(Object.entries(PACKAGES).filter(([p]) => !have(p)).map(([, pkg]) => pkg))];
if (missing.length === 0) process.exit(0);

const root = process.getuid?.() === 0;
const apt = have('apt-get');
if (root && apt) {
  process.stdout.write(`prereqs: installing ${missing.join(' ')}\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
    execFileSync(
      'apt-get',
      ['install', '-y', '-q', '--no-install-recommends', ...missing],
      { stdio: 'inherit', env },
    );
  } catch (err) {
    process.stderr.write(`prereqs: apt-get failed: ${err.message}\n`);
    if (process.env.CI === 'true') process.exit(1);
  }
  // fail2ban's package may start its service; the tests use only fail2ban-regex.
  spawnSync('sh', ['-c', 'command -v systemctl >/dev/null && systemctl stop fail2ban 2>/dev/null; pkill -f fail2ban-server 2>/dev/null'], { stdio: 'ignore' });
} else {
  const why = root ? 'no apt-get' : 'not root';
  const line = `prereqs: ${why}; suites needing ${missing.join(', ')} will be skipped`;
  if (process.env.CI === 'true') {
    process.stderr.write(`${line}, but CI=true: nothing may be skipped\n`);
    process.exit(1);
  }
  process.stdout.write(`${line}\n`);
}
