import bcrypt from 'bcryptjs';
import jwt from 'jsonwebtoken';
import { createHmac, createSecretKey, randomBytes, timingSafeEqual } from 'node:crypto';
import { MailError } from './errors';
import type { MailStore } from './ports';
import type { LoginGuard } from './rate-limit';
import type { Role, User, UserWithSecret } from './types';

/** bcrypt cost; 10 is ~70 ms per hash on this class of machine. */
export const BCRYPT_ROUNDS = 10;

export function hashPassword(password: string): Promise<string> {
  return bcrypt.hash(password, BCRYPT_ROUNDS);
}

export function verifyPassword(password: string, hash: string): Promise<boolean> {
  return bcrypt.compare(password, hash);
}

/**
 * Password hashing as the HTTP handlers use it. bcrypt is ~70 ms of CPU per call; the
 * local host runs it on a thread of its own (adapters/password-pool.ts) so a login
 * never stalls SMTP sessions; tests and scripts may use `inProcessPasswords`.
 */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  /** Spends the time of a verify, for unknown users: timing does not tell who exists. */
  burn(password: string): Promise<boolean>;
}

export const inProcessPasswords: PasswordHasher = {
  hash: hashPassword,
  verify: verifyPassword,
  burn: (password) => burnPasswordCheck(password),
};

/**
 * Remembers passwords that verified, as Dovecot's auth cache does: a mail client logs in
 * on every connection (a phone for each message it sends, Thunderbird for each check),
 * and bcrypt costs ~70 ms of CPU each time. An entry is found by the stored hash (a
 * password change stores a new one, so the old password's entry is never found again)
 * and holds an HMAC-SHA256 of the password under a key that exists only in this
 * process's memory. A presented password that matches it is right without bcrypt; any
 * other goes to bcrypt as always, so a wrong password costs and counts as before (the
 * login guard runs around this, unchanged). Entries live `ttlMs`; 0 turns the cache off.
 * The trade, Dovecot's too: whoever can read this process's memory could test guesses
 * against an entry at HMAC speed rather than bcrypt's (though they would also see the
 * passwords that clients send, in clear, as they arrive).
 */
export class VerifiedPasswordCache implements PasswordHasher {
  private readonly key = randomBytes(32);
  private readonly entries = new Map<string, { mac: Buffer; until: number }>();

  constructor(
    readonly inner: PasswordHasher,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  hash(password: string): Promise<string> {
    return this.inner.hash(password);
  }

  burn(password: string): Promise<boolean> {
    return this.inner.burn(password);
  }

  async verify(password: string, hash: string): Promise<boolean> {
    if (this.ttlMs <= 0) return this.inner.verify(password, hash);
    const mac = createHmac('sha256', this.key).update(hash).update('\0').update(password, 'utf8').digest();
    const entry = this.entries.get(hash);
    if (entry && entry.until > this.now() && timingSafeEqual(entry.mac, mac)) return true;
    const ok = await this.inner.verify(password, hash);
    if (ok) {
      this.entries.delete(hash);
      // the oldest entry goes first (a Map keeps insertion order)
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(hash, { mac, until: this.now() + this.ttlMs });
    }
    return ok;
  }
}

/** A hash of nothing anyone knows, compared against when the user does not exist, so timing does not tell. */
const DUMMY_HASH = bcrypt.hashSync('nimbus-no-such-user', BCRYPT_ROUNDS);
export function burnPasswordCheck(password: string): Promise<boolean> {
  return bcrypt.compare(password, DUMMY_HASH);
}

export interface TokenClaims {
  sub: string;
  email: string;
  role: Role;
  /** The user's token version when issued: a password change raises it, so older tokens stop working. */
  ver: number;
  /** This token's id, for signing it out alone. */
  jti: string;
  /** Expiry, epoch seconds. */
  exp: number;
}

/**
 * Who is calling, once the token has been checked against the user record: the role
 * and address are the record's (a token's claims are not trusted for them).
 */
export interface Principal extends TokenClaims {
  user: User;
}

export interface TokenService {
  issue(user: User, tokenVersion: number): { token: string; expiresAt: string };
  verify(token: string): TokenClaims;
}

/** HS256 only: the algorithm is pinned on verify, so `alg: none` and RS/HS confusion are refused. */
export function createTokenService(secretText: string, ttlSeconds: number): TokenService {
  // a key object, made once: given a string, jsonwebtoken first tries it as a public key on every call (~0.4 ms)
  const secret = createSecretKey(Buffer.from(secretText, 'utf8'));
  // tokens already verified, by their exact text: a client sends the same token with every request, and checking its
  // HMAC and claims again cost about 4 % of the main thread per API send. The expiry is checked again on every use, as
  // jsonwebtoken checks it; whether the token was signed out is the caller's check, against the store, every time.
  const verified = new Map<string, TokenClaims>();
  const unauthenticated = () => new MailError('Unauthenticated', 'Invalid or expired token');
  return {
    issue(user, tokenVersion) {
      const expiresAtSec = Math.floor(Date.now() / 1000) + ttlSeconds;
      const token = jwt.sign({ email: user.email, role: user.role, ver: tokenVersion, exp: expiresAtSec }, secret, {
        algorithm: 'HS256',
        subject: user.id,
        jwtid: randomBytes(12).toString('base64url'),
      });
      return { token, expiresAt: new Date(expiresAtSec * 1000).toISOString() };
    },
    verify(token) {
      const known = verified.get(token);
      if (known) {
        if (Math.floor(Date.now() / 1000) < known.exp) return { ...known };
        verified.delete(token);
        throw unauthenticated();
      }
      try {
        const claims = jwt.verify(token, secret, { algorithms: ['HS256'] });
        // a token without an id (issued before sign-out existed) could not be signed out: it is not accepted
        if (typeof claims !== 'object' || typeof claims.sub !== 'string' || typeof claims.email !== 'string' || typeof claims.exp !== 'number' || typeof claims.jti !== 'string' || !claims.jti) {
          throw new Error('claims');
        }
        const role: Role = claims.role === 'admin' ? 'admin' : 'user';
        const ver = typeof claims.ver === 'number' ? claims.ver : 0;
        const checked: TokenClaims = { sub: claims.sub, email: claims.email, role, ver, jti: claims.jti, exp: claims.exp };
        if (verified.size >= 10_000) verified.clear(); // bounded: at worst each token is checked in full once more
        verified.set(token, checked);
        return { ...checked };
      } catch {
        throw unauthenticated();
      }
    },
  };
}

/**
 * One password check as API login and SMTP AUTH both make it: reserved with the login
 * guard before the lookup and the hash (a blocked account or address learns nothing
 * from trying), the same time spent for an unknown user as for a wrong password.
 * The user when the password is right, null when not; `RateLimited` over the limits.
 */
export async function checkLogin(
  deps: { store: Pick<MailStore, 'getUserByEmail'>; passwords: PasswordHasher; loginGuard: LoginGuard },
  account: string,
  password: string,
  clientAddress: string,
): Promise<UserWithSecret | null> {
  const email = account.trim().toLowerCase();
  const seen: { user: UserWithSecret | null } = { user: null };
  const outcome = await deps.loginGuard.attempt(email, clientAddress, async () => {
    seen.user = await deps.store.getUserByEmail(email);
    if (seen.user) return deps.passwords.verify(password, seen.user.passwordHash);
    await deps.passwords.burn(password);
    return false;
  }, () => seen.user !== null);
  return outcome === 'ok' ? seen.user : null;
}
