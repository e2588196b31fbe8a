/** What config/ reads of an API key entry (its hash and its scope), exactly, and that a key checks against its hash. */
import { describe, expect, it } from 'vitest';
import { hashKey, KeyVerifier, parseKeyHash, sha256 } from '../../src/access/api-keys.ts';
import { ADMIN, parseScope, sees } from '../../src/access/scope.ts';

describe('parseScope', () => {
  it('reads admin and tenant:<id>, the id being everything after the first colon', () => {
    expect(parseScope('admin')).toEqual(ADMIN);
    expect(parseScope('tenant:t:1')).toEqual({ kind: 'tenant', tenantId: 't:1' });
    expect([parseScope('tenant:'), parseScope('Admin'), parseScope(`tenant:${'x'.repeat(129)}`)]).toEqual([null, null, null]);
  });

  it('lets a tenant see only what its own tenant owns', () => {
    const scope = { kind: 'tenant', tenantId: 't1' } as const;
    expect([sees(scope, 't1'), sees(scope, 't2'), sees(scope, null), sees(ADMIN, null)]).toEqual([true, false, false, true]);
  });
});

describe('parseKeyHash', () => {
  it('reads a SHA-256 digest and an scrypt hash, and says why it reads neither', async () => {
    expect(parseKeyHash(sha256('k').toString('hex'))).toEqual({ kind: 'sha256', digest: sha256('k') });
    expect(parseKeyHash(await hashKey('k', 'scrypt'))).toMatchObject({ kind: 'scrypt', cost: 16_384, blockSize: 8, parallelization: 1 });
    expect(parseKeyHash('abc')).toBe('not a SHA-256 hex digest (64 hex digits) nor scrypt$N$r$p$salt$hash');
    expect(parseKeyHash('scrypt$1000$8$1$a$b')).toBe('scrypt hash: N must be a power of two up to 1048576');
  });

  it('gives hashes a verifier accepts for their key only', async () => {
    const [fast, slow] = [parseKeyHash(await hashKey('fast-key', 'sha256')), parseKeyHash(await hashKey('slow-key', 'scrypt'))];
    if (typeof fast === 'string' || typeof slow === 'string') throw new Error('unreadable hash');
    const verifier = new KeyVerifier([
      { id: 'fast', hash: fast, scope: ADMIN },
      { id: 'slow', hash: slow, scope: ADMIN },
    ]);
    expect([verifier.lookup('fast-key')?.id, verifier.lookup('slow-key'), verifier.lookup('other')]).toEqual(['fast', null, null]);
    expect([(await verifier.verifySlow('slow-key'))?.id, await verifier.verifySlow('other')]).toEqual(['slow', null]);
    expect(verifier.proven('slow-key')?.id).toBe('slow');
  });
});
