import { describe, expect, it } from 'vitest';
import { Random } from '../../src/core/random.ts';
import { DistinctRecent } from '../../src/windows/distinct-recent.ts';

describe('DistinctRecent', () => {
  it('counts distinct number and string keys seen since a bucket, exactly, across growth and purges', () => {
    const d = new DistinctRecent(1_000_000);
    const rng = new Random(7);
    const last = new Map<number | string, number>();
    for (let bucket = 0; bucket < 40; bucket++) {
      for (let t = 0; t < 500; t++) {
        const key = rng.chance(0.3) ? `10.0.${rng.int(0, 9)}.${rng.int(0, 255)}` : rng.int(0, 5000);
        d.touch(key, bucket);
        last.set(key, bucket);
      }
      if (bucket % 7 === 6) {
        const since = bucket - 14;
        const expected = [...last.values()].filter((b) => b >= since).length;
        expect(d.countSince(since)).toBe(expected);
        for (const [k, b] of last) if (b < since) last.delete(k);
      }
    }
  });

  it('stops remembering new keys at the cap and counts the overflow', () => {
    const d = new DistinctRecent(3);
    for (const k of [1, 2, 'a', 4, 'b', 1]) d.touch(k, 0);
    expect(d.size).toBe(3);
    expect(d.overflow).toBe(2);
    expect(d.countSince(0)).toBe(3);
  });
});
