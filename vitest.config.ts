import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Suites start real daemons (sshd, rsyslogd, journalctl); give them room.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Namespace and port fixtures are per file; files run in parallel forks.
    pool: 'forks',
  },
});
