import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { missing } from './requirements.js';

/**
 * A real PostgreSQL for one suite, from Debian's packages: its own data
 * folder (initdb), no TCP port, a Unix socket in a folder of its own, run as
 * the unprivileged `postgres` user. Stop it in afterAll with destroy().
 */

export const PG_BIN = '/usr/lib/postgresql/15/bin';
const PG_USER = 'postgres';

/** A reason to skip (or, under CI=true, a thrown error) when PostgreSQL 15 is not installed. */
export function missingPostgres(suite: string): string | undefined {
  return missing(suite, { root: true, commands: [`${PG_BIN}/initdb`, `${PG_BIN}/pg_ctl`, 'runuser'] });
}

export interface TestPostgresOptions {
  /** Database to create (default `fleetban`). */
  database?: string;
  /**
   * Require a password (scram-sha-256) for the `postgres` role instead of
   * trusting every local connection.
   */
  password?: string;
}

export class TestPostgres {
  readonly dataDir: string;
  readonly sockDir: string;
  readonly database: string;

  private constructor(
    readonly dir: string,
    o: TestPostgresOptions,
  ) {
    this.dataDir = join(dir, 'data');
    this.sockDir = join(dir, 'sock');
    this.database = o.database ?? 'fleetban';
  }

  static async start(o: TestPostgresOptions = {}): Promise<TestPostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'fbpg-'));
    // mkdtemp makes 0700: postgres must be able to walk into it.
    chmodSync(dir, 0o755);
    const p = new TestPostgres(dir, o);
    const { uid, gid } = pgIds();
    for (const d of [p.dataDir, p.sockDir]) {
      mkdirSync(d, { mode: 0o700 });
      chownSync(d, uid, gid);
    }
    const initdb = [`${PG_BIN}/initdb`, '-D', p.dataDir, '-U', PG_USER, '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8'];
    if (o.password) {
      const pw = join(dir, 'pwfile');
      writeFileSync(pw, `${o.password}\n`, { mode: 0o600 });
      chownSync(pw, uid, gid);
      initdb.push('-A', 'scram-sha-256', `--pwfile=${pw}`);
    } else {
      initdb.push('-A', 'trust');
    }
    asPostgres(initdb);
    // Tests stop it with -m immediate: no fsync on the way is worth waiting for.
    writeFileSync(
      join(p.dataDir, 'postgresql.auto.conf'),
      ['fsync = off', 'full_page_writes = off', "log_min_messages = 'fatal'", 'max_connections = 100', ''].join('\n'),
    );
    p.pgCtl('start');
    const env: Record<string, string> = o.password ? { PGPASSWORD: o.password } : {};
    asPostgres([`${PG_BIN}/createdb`, '-h', p.sockDir, '-U', PG_USER, p.database], env);
    return p;
  }

  /** `postgresql://postgres@<socket folder>/<db>`: what `[state] url` takes. */
  get url(): string {
    return `postgresql://${PG_USER}@${encodeURIComponent(this.sockDir)}/${this.database}`;
  }

  /** A client of the test's own (close it). */
  async client(password?: string): Promise<pg.Client> {
    const c = new pg.Client({ host: this.sockDir, user: PG_USER, database: this.database, password });
    await c.connect();
    return c;
  }

  /** One query on a connection of its own. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    const c = await this.client();
    try {
      return (await c.query<R>(sql, params)).rows;
    } finally {
      await c.end();
    }
  }

  /** pg_ctl restart: every connection is cut, the database comes back within a second or so. */
  restart(): void {
    this.pgCtl('restart', '-m', 'fast');
  }

  /** Stop at once, as a crash would (clients see their connections reset). */
  stopNow(): void {
    this.pgCtl('stop', '-m', 'immediate');
  }

  start(): void {
    this.pgCtl('start');
  }

  destroy(): void {
    try {
      this.stopNow();
    } catch {
      // not running
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private pgCtl(action: string, ...extra: string[]): void {
    const opts = `-k ${this.sockDir} -c listen_addresses=''`;
    asPostgres([`${PG_BIN}/pg_ctl`, '-D', this.dataDir, '-o', opts, '-l', join(this.dataDir, 'server.log'), '-w', '-s', action, ...extra]);
  }
}

function pgIds(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, PG_USER], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

function asPostgres(argv: string[], env: Record<string, string> = {}): void {
  execFileSync('runuser', ['-u', PG_USER, '--', ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
    // The postgres user cannot read the working directory of the test.
    cwd: '/',
  });
}
