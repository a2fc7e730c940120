import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';

/** The session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site sends it). */
export const SESSION_COOKIE = 'fleetban_session';
/** The header every write carries, with the session's CSRF token. */
export const CSRF_HEADER = 'x-fleetban-csrf';

const SESSION_MS = 12 * 3600_000;
const MAX_SESSIONS = 1000;
/** Wrong tokens allowed per client address and minute before logins are refused for that minute. */
const MAX_FAILED_LOGINS = 5;

interface Session {
  csrf: string;
  expires: number;
}

export class TokenFileError extends Error {}

/**
 * Logins for a page on a private network: the administrator writes a long
 * random token into `[web] token_file` (mode 0600, owned by the service),
 * types it once, and the page holds a session cookie. Every write also
 * carries the session's CSRF token in a header, which a form or image on
 * another site cannot send, and a JSON body, which a plain form cannot.
 */
export class WebAuth {
  private readonly sessions = new Map<string, Session>();
  private readonly failed = new Map<string, { minute: number; n: number }>();
  private digest: Buffer | null;

  constructor(
    readonly tokenFile: string | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.digest = tokenFile ? readToken(tokenFile) : null;
  }

  /** True when the page needs a login (a token file is configured). */
  get required(): boolean {
    return this.digest !== null;
  }

  /** Check a typed token; a new session (id and CSRF token) when it is right, null when not or when refused for too many tries. */
  login(token: string, client: string): { id: string; csrf: string } | 'refused' | null {
    if (!this.digest) return null;
    const minute = Math.floor(this.now() / 60_000);
    const f = this.failed.get(client);
    if (f && f.minute === minute && f.n >= MAX_FAILED_LOGINS) return 'refused';
    const given = createHash('sha256').update(token.trim()).digest();
    if (!timingSafeEqual(given, this.digest)) {
      this.failed.set(client, { minute, n: f && f.minute === minute ? f.n + 1 : 1 });
      if (this.failed.size > 10_000) this.failed.clear();
      return null;
    }
    this.expire();
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    this.sessions.set(id, { csrf, expires: this.now() + SESSION_MS });
    return { id, csrf };
  }

  logout(req: IncomingMessage): void {
    const id = sessionId(req);
    if (id) this.sessions.delete(id);
  }

  /** The session of a request (by its cookie), or null. */
  session(req: IncomingMessage): { csrf: string } | null {
    const id = sessionId(req);
    if (!id) return null;
    const s = this.sessions.get(id);
    if (!s || s.expires < this.now()) {
      this.sessions.delete(id);
      return null;
    }
    return s;
  }

  /** A write is allowed with a session whose CSRF token is in the header. */
  mayWrite(req: IncomingMessage): boolean {
    const s = this.session(req);
    const given = req.headers[CSRF_HEADER];
    if (!s || typeof given !== 'string') return false;
    const a = Buffer.from(given);
    const b = Buffer.from(s.csrf);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private expire(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (s.expires < now) this.sessions.delete(id);
  }
}

/** The Set-Cookie value for a session. */
export function sessionCookie(id: string | null): string {
  return id === null
    ? `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`
    : `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_MS / 1000}`;
}

function sessionId(req: IncomingMessage): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

/** The token's SHA-256; a token too short to resist guessing is refused. */
function readToken(file: string): Buffer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new TokenFileError(`[web] token_file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (text.length < 16) throw new TokenFileError(`[web] token_file: ${file} holds fewer than 16 characters (make one with: openssl rand -base64 32)`);
  return createHash('sha256').update(text).digest();
}
