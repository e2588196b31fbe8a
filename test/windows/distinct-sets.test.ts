import { describe, expect, it } from 'vitest';
import { Random } from '../../src/core/random.ts';
import { DistinctSets, LOCAL_PORTS, PEERS_IN, PEERS_OUT, REMOTE_PORTS } from '../../src/windows/distinct-sets.ts';

describe('DistinctSets', () => {
  it('counts distinct keys per set seen since a bucket, exactly, across growth and purges', () => {
    const d = new DistinctSets(1_000_000);
    const rng = new Random(7);
    const last = [PEERS_OUT, PEERS_IN, REMOTE_PORTS, LOCAL_PORTS].map(() => new Map<number | string, number>());
    for (let bucket = 0; bucket < 40; bucket++) {
      for (let t = 0; t < 800; t++) {
        const set = rng.int(0, 3);
        if (set <= PEERS_IN && rng.chance(0.3)) {
          const ip = `10.0.${rng.int(0, 9)}.${rng.int(0, 255)}`;
          d.touchString(set, ip, bucket);
          last[set]!.set(ip, bucket);
        } else {
          const v = rng.int(0, 5000);
          d.touch(set, v, bucket);
          last[set]!.set(v, bucket);
        }
      }
      if (bucket % 7 === 6) {
        const since = bucket - 14;
        for (let set = 0; set < 4; set++) {
          const expected = [...last[set]!.values()].filter((b) => b >= since).length;
          expect(d.countSince(set, since)).toBe(expected);
          for (const [k, b] of last[set]!) if (b < since) last[set]!.delete(k);
        }
      }
    }
  });

  it('stops remembering new keys of a full set and counts the overflow', () => {
    const d = new DistinctSets(3);
    for (const k of [1, 2, 'a', 4, 'b', 1]) {
      if (typeof k === 'number') d.touch(PEERS_OUT, k, 0);
      else d.touchString(PEERS_OUT, k, 0);
    }
    d.touch(PEERS_IN, 1, 0);
    expect(d.size(PEERS_OUT)).toBe(3);
    expect(d.size(PEERS_IN)).toBe(1);
    expect(d.overflow).toBe(2);
  });
});
