/**
 * API keys as the configuration holds them: hashes, never the keys, so a leaked environment or log does
 * not hand out access. Two forms: the SHA-256 of the key in hex (for random keys, whose entropy makes a
 * fast hash safe), or scrypt (`scrypt$N$r$p$salt$hash`, base64url) for keys a person chose.
 */
import { createHash, randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import type { AccessScope } from './scope.ts';

export type KeyHash =
  | { kind: 'sha256'; digest: Buffer }
  | { kind: 'scrypt'; cost: number; blockSize: number; parallelization: number; salt: Buffer; digest: Buffer };

export interface ApiKey {
  /** A name for logs and rate-limit buckets; never the key or its hash. */
  id: string;
  hash: KeyHash;
  scope: AccessScope;
}

const SHA256_HEX = /^[0-9a-f]{64}$/i;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** Defaults of the hash-key command: about 50 ms and 16 MiB per hash on this project's machine. */
const SCRYPT_DEFAULTS = { cost: 16_384, blockSize: 8, parallelization: 1, saltBytes: 16, keyBytes: 32 } as const;
/** Bounds on what a configured scrypt hash may ask for, so a typo cannot make each request take seconds. */
const MAX_SCRYPT_COST = 1 << 20;
const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024;

const isPowerOfTwo = (n: number): boolean => Number.isInteger(n) && n > 1 && (n & (n - 1)) === 0;

/** Reads a configured hash; a string why not when it is neither form. */
export function parseKeyHash(text: string): KeyHash | string {
  if (SHA256_HEX.test(text)) return { kind: 'sha256', digest: Buffer.from(text, 'hex') };
  const parts = text.split('$');
  if (parts[0] !== 'scrypt') return 'not a SHA-256 hex digest (64 hex digits) nor scrypt$N$r$p$salt$hash';
  if (parts.length !== 6) return 'scrypt hash: expected scrypt$N$r$p$salt$hash';
  const [cost, blockSize, parallelization] = parts.slice(1, 4).map((p) => (/^\d{1,8}$/.test(p) ? Number(p) : Number.NaN)) as [number, number, number];
  if (!isPowerOfTwo(cost) || cost > MAX_SCRYPT_COST) return `scrypt hash: N must be a power of two up to ${MAX_SCRYPT_COST}`;
  if (!(blockSize >= 1 && blockSize <= 32 && parallelization >= 1 && parallelization <= 16)) return 'scrypt hash: r must be 1..32, p 1..16';
  if (128 * cost * blockSize > MAX_SCRYPT_MEMORY) return 'scrypt hash: N x r needs more than 256 MiB';
  const [salt, digest] = [parts[4]!, parts[5]!];
  if (!BASE64URL.test(salt) || !BASE64URL.test(digest)) return 'scrypt hash: salt and hash must be base64url';
  const digestBytes = Buffer.from(digest, 'base64url');
  if (digestBytes.length < 16 || digestBytes.length > 64) return 'scrypt hash: the hash must be 16..64 bytes';
  return { kind: 'scrypt', cost, blockSize, parallelization, salt: Buffer.from(salt, 'base64url'), digest: digestBytes };
}

export const sha256 = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

function scryptAsync(key: string, salt: Buffer, keyBytes: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(key, salt, keyBytes, options, (err, derived) => (err ? reject(err) : resolve(derived)));
  });
}

const scryptOptions = (h: { cost: number; blockSize: number; parallelization: number }): ScryptOptions => ({
  N: h.cost,
  r: h.blockSize,
  p: h.parallelization,
  // Node refuses above 32 MiB by default; the parser already bounded N x r.
  maxmem: 2 * 128 * h.cost * h.blockSize + 1024 * 1024,
});

/** The configuration line for a key: its SHA-256 in hex, or a fresh salted scrypt hash. */
export async function hashKey(key: string, kind: KeyHash['kind']): Promise<string> {
  if (kind === 'sha256') return sha256(key).toString('hex');
  const d = SCRYPT_DEFAULTS;
  const salt = randomBytes(d.saltBytes);
  const digest = await scryptAsync(key, salt, d.keyBytes, scryptOptions(d));
  return ['scrypt', d.cost, d.blockSize, d.parallelization, salt.toString('base64url'), digest.toString('base64url')].join('$');
}

/** A random key of 32 bytes (256 bits), base64url: enough entropy for the SHA-256 form. */
export const generateKey = (): string => randomBytes(32).toString('base64url');

/** RFC 6750's token characters; bounded, so a client cannot make us hash a 16 KB header per request. */
const BEARER = /^Bearer[ ]+([A-Za-z0-9\-._~+/]{1,512}=*)[ ]*$/i;

/** The key of an `Authorization: Bearer <key>` header; null when absent or malformed. */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  return BEARER.exec(header)?.[1] ?? null;
}

/**
 * Checks presented keys against the configured hashes. Every digest comparison is constant-time and runs
 * over all keys of a kind, so timing says nothing about how close a guess came or which key matched.
 */
export class KeyVerifier {
  private readonly sha256Keys: Array<{ key: ApiKey; digest: Buffer }> = [];
  private readonly scryptKeys: Array<{ key: ApiKey; hash: Extract<KeyHash, { kind: 'scrypt' }> }> = [];
  /**
   * Keys already proven against a scrypt hash, by the SHA-256 of the key: scrypt is deliberately slow and
   * must not run on every request. Only successes are kept, so its size is bounded by the configured keys.
   */
  private readonly provenByDigest = new Map<string, ApiKey>();

  constructor(readonly keys: readonly ApiKey[]) {
    for (const key of keys) {
      if (key.hash.kind === 'sha256') this.sha256Keys.push({ key, digest: key.hash.digest });
      else this.scryptKeys.push({ key, hash: key.hash });
    }
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /**
   * The cheap check against the SHA-256 keys (random keys: guessing them is hopeless, so this check needs
   * no bound of its own); null when the key is wrong or may be a scrypt key.
   */
  lookup(token: string): ApiKey | null {
    const digest = sha256(token);
    let found: ApiKey | null = null;
    for (const { key, digest: expected } of this.sha256Keys) {
      if (timingSafeEqual(digest, expected) && found === null) found = key;
    }
    return found;
  }

  /**
   * A key proven against a scrypt hash before, found by the SHA-256 of the key. Cheap, but scrypt keys are
   * chosen by people: callers keep it behind the same per-client bound as `verifySlow`, or a client could
   * test guesses at hashing speed.
   */
  proven(token: string): ApiKey | null {
    // A map lookup by the SHA-256 of the key: its timing can only tell about a hash of the guess.
    return this.provenByDigest.get(sha256(token).toString('hex')) ?? null;
  }

  /** Whether a key that `lookup` did not know could still match (there are scrypt hashes). */
  get hasSlowKeys(): boolean {
    return this.scryptKeys.length > 0;
  }

  /** Tries every scrypt hash; a match is remembered for `proven`. */
  async verifySlow(token: string): Promise<ApiKey | null> {
    let found: ApiKey | null = null;
    for (const { key, hash } of this.scryptKeys) {
      const derived = await scryptAsync(token, hash.salt, hash.digest.length, scryptOptions(hash));
      if (timingSafeEqual(derived, hash.digest) && found === null) found = key;
    }
    if (found !== null) this.provenByDigest.set(sha256(token).toString('hex'), found);
    return found;
  }
}
