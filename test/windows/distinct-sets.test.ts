import { describe, expect, it } from 'vitest';
import { Random } from '../../src/core/random.ts';
import { DistinctSets, type DistinctShape, LOCAL_PORTS, PEERS_IN, PEERS_OUT, REMOTE_PORTS } from '../../src/windows/distinct-sets.ts';

function shape(cap: number, sketchSlots = 16): DistinctShape & { sketched: number } {
  const s = {
    cap,
    sketchSlots,
    sketched: 0,
    onSketched: () => {
      s.sketched++;
    },
  };
  return s;
}

describe('DistinctSets', () => {
  it('counts distinct keys per set seen since a bucket, exactly, across growth and purges', () => {
    const d = new DistinctSets(shape(1_000_000));
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
          expect(d.count(set, since, bucket)).toBe(expected);
          for (const [k, b] of last[set]!) if (b < since) last[set]!.delete(k);
        }
      }
    }
  });

  it('keeps at most the cap of exact keys per set and counts the keys turned away', () => {
    const s = shape(3);
    const d = new DistinctSets(s);
    for (const k of [1, 2, 'a', 4, 'b', 1]) {
      if (typeof k === 'number') d.touch(PEERS_OUT, k, 0);
      else d.touchString(PEERS_OUT, k, 0);
    }
    d.touch(PEERS_IN, 1, 0);
    expect(d.size(PEERS_OUT)).toBe(3);
    expect(d.size(PEERS_IN)).toBe(1);
    expect(d.overflow).toBe(2);
    expect(s.sketched).toBe(1);
    expect(d.isSketched(PEERS_OUT)).toBe(true);
    expect(d.isSketched(PEERS_IN)).toBe(false);
    // Five distinct keys: the sketch's linear counting is exact this far below its 1,024 registers.
    expect(d.count(PEERS_OUT, 0, 0)).toBe(5);
    expect(d.count(PEERS_IN, 0, 0)).toBe(1);
  });

  it('switches a full set to its sketch, and back to exact keys once no key was turned away in the window', () => {
    const d = new DistinctSets(shape(100));
    // Buckets 0..3: 20,000 distinct peers (a scanner); bucket 10: the same 50 peers as a normal VM.
    for (let b = 0; b < 4; b++) for (let v = 0; v < 5000; v++) d.touch(PEERS_OUT, b * 5000 + v, b);
    d.purge(0);
    const estimate = d.count(PEERS_OUT, 0, 3);
    expect(d.size(PEERS_OUT)).toBe(100);
    expect(Math.abs(estimate - 20_000) / 20_000).toBeLessThan(0.05);
    // Window [2, 3]: 10,000 of them.
    d.purge(2);
    expect(Math.abs(d.count(PEERS_OUT, 2, 3) - 10_000) / 10_000).toBeLessThan(0.05);
    for (let v = 0; v < 50; v++) d.touch(PEERS_OUT, v, 10);
    // Window [4, 10]: the turned-away keys are all older, the exact keys are complete again.
    d.purge(4);
    expect(d.isSketched(PEERS_OUT)).toBe(false);
    expect(d.count(PEERS_OUT, 4, 10)).toBe(50);
  });

  it('exports and restores its state exactly, sketches included', () => {
    const d = new DistinctSets(shape(64));
    const rng = new Random(11);
    for (let i = 0; i < 2000; i++) {
      d.touch(rng.int(0, 3), rng.int(0, 100_000), rng.int(0, 5));
      if (i % 50 === 0) d.touchString(PEERS_IN, `fd00::${rng.int(0, 500)}`, 5);
    }
    const copy = DistinctSets.fromState(shape(64), structuredClone(d.exportState()));
    for (const x of [d, copy]) {
      x.touch(PEERS_OUT, 123_456, 6);
      x.touchString(PEERS_IN, 'fd00::1', 6);
      x.purge(2);
    }
    for (let set = 0; set < 4; set++) {
      expect(copy.count(set, 2, 6)).toBe(d.count(set, 2, 6));
      expect(copy.isSketched(set)).toBe(d.isSketched(set));
    }
    expect(copy.exportState()).toEqual(d.exportState());
  });
});
