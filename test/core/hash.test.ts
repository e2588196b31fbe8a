/**
 * fmix32 is MurmurHash3's finaliser: the HyperLogLog sketches and the generator's ids rely on it spreading
 * every input bit over the whole output, so a change to it would silently change counts and fixtures.
 */
import { describe, expect, it } from 'vitest';
import { fmix32 } from '../../src/core/hash.ts';
import { Random } from '../../src/core/random.ts';

describe('fmix32', () => {
  it("gives MurmurHash3_x86_32's published values for an empty input (the hash is then fmix32(seed))", () => {
    expect(fmix32(0)).toBe(0);
    expect(fmix32(1)).toBe(0x514e28b7);
    expect(fmix32(0xffffffff)).toBe(0x81f16f39);
    // Negative numbers are the same 32 bits.
    expect(fmix32(-1)).toBe(0x81f16f39);
  });

  it('flips each output bit about half the time when one input bit flips (seed 7, 2,000 inputs)', () => {
    const random = new Random(7);
    const flips = new Array<number>(32).fill(0);
    const inputs = 2000;
    for (let n = 0; n < inputs; n++) {
      const x = random.nextUint32();
      const h = fmix32(x);
      for (let bit = 0; bit < 32; bit++) {
        const diff = (h ^ fmix32(x ^ (1 << bit))) >>> 0;
        for (let out = 0; out < 32; out++) flips[out]! += (diff >>> out) & 1;
      }
    }
    for (const count of flips) {
      const share = count / (inputs * 32);
      expect(share).toBeGreaterThan(0.48);
      expect(share).toBeLessThan(0.52);
    }
  });
});
