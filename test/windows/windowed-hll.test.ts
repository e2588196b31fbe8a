import { describe, expect, it } from 'vitest';
import { Random } from '../../src/core/random.ts';
import { hashNumber, hashString, WindowedHll } from '../../src/windows/windowed-hll.ts';

describe('WindowedHll', () => {
  it('estimates known cardinalities within 3 standard errors (3.25% each) over numbers and strings', () => {
    const rng = new Random(5);
    for (const n of [10, 100, 1000, 10_000, 100_000, 1_000_000]) {
      const numbers = new WindowedHll(16);
      const strings = new WindowedHll(16);
      const base = rng.int(0, 2 ** 30);
      for (let i = 0; i < n; i++) {
        // Every key twice, in two buckets: duplicates must not count.
        numbers.add(hashNumber(2 ** 32 + base + i), i % 4);
        numbers.add(hashNumber(2 ** 32 + base + i), 4);
        strings.add(hashString(`2001:db8::${(base + i).toString(16)}`), i % 4);
      }
      expect(Math.abs(numbers.estimate(0, 4) - n) / n).toBeLessThan(3 * 0.0325);
      expect(Math.abs(strings.estimate(0, 3) - n) / n).toBeLessThan(3 * 0.0325);
    }
  });

  it('counts only the buckets asked for and reuses the slot of a bucket that left the ring', () => {
    const h = new WindowedHll(4);
    for (let i = 0; i < 500; i++) h.add(hashNumber(i), 0);
    for (let i = 500; i < 700; i++) h.add(hashNumber(i), 1);
    expect(Math.round(h.estimate(1, 1))).toBeGreaterThan(190);
    expect(Math.round(h.estimate(1, 1))).toBeLessThan(210);
    // Bucket 4 takes bucket 0's slot: the 500 keys are gone; bucket 0 is now older than the ring and ignored.
    h.add(hashNumber(9), 4);
    h.add(hashNumber(10), 0);
    expect(Math.round(h.estimate(0, 4))).toBeGreaterThan(190);
    expect(Math.round(h.estimate(0, 4))).toBeLessThan(212);
    expect(h.estimate(5, 9)).toBe(0);
  });

  it('rejects restored state of the wrong size', () => {
    expect(() => new WindowedHll(4, { slotBuckets: new Float64Array(3), registers: new Uint8Array(4 * 1024) })).toThrow(RangeError);
  });
});
