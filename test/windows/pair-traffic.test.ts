import { describe, expect, it } from 'vitest';
import { PairTraffic } from '../../src/windows/pair-traffic.ts';

function edges(p: PairTraffic, first: number, last: number): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  p.forEach(first, last, (lo, hi, bytes) => out.push([lo, hi, bytes]));
  return out.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

describe('PairTraffic', () => {
  it('counts both directions of a pair in one undirected entry', () => {
    const p = new PairTraffic(15);
    p.add(7, 3, 100, 1000);
    p.add(3, 7, 100, 500);
    p.add(3, 9, 101, 10);
    expect(p.size).toBe(2);
    expect(edges(p, 86, 101)).toEqual([
      [3, 7, 1500],
      [3, 9, 10],
    ]);
  });

  it('forgets epochs that left the window, pro-rates the oldest one and purges silent pairs', () => {
    // 15 buckets: epochs of 4 buckets.
    const p = new PairTraffic(15);
    expect(p.epochBuckets).toBe(4);
    p.add(1, 2, 100, 100); // epoch 25 (buckets 100..103)
    p.add(1, 2, 112, 10); // epoch 28
    p.add(4, 5, 101, 7);
    // Window [100, 114]: all of epoch 25 counts.
    expect(edges(p, 100, 114)).toEqual([
      [1, 2, 110],
      [4, 5, 7],
    ]);
    // Window [103, 117]: 1 of epoch 25's 4 buckets remains in it.
    expect(edges(p, 103, 117)).toEqual([
      [1, 2, 25 + 10],
      [4, 5, 7 * 0.25],
    ]);
    // Window [105, 119]: epoch 25 has left; the pair 4-5 is purged.
    expect(edges(p, 105, 119)).toEqual([[1, 2, 10]]);
    expect(p.size).toBe(1);
  });

  it('reuses the slots of old epochs and drops records older than its ring', () => {
    const p = new PairTraffic(15);
    p.add(1, 2, 100, 1); // epoch 25
    p.add(1, 2, 125, 2); // epoch 31: every slot cleared on the way (epochs 27..31)
    p.add(1, 2, 101, 50); // epoch 25 is beyond the ring now
    expect(edges(p, 111, 125)).toEqual([[1, 2, 2]]);
  });

  it('turns new pairs away at its cap and counts them', () => {
    const p = new PairTraffic(15, 2);
    p.add(1, 2, 100, 1);
    p.add(1, 3, 100, 1);
    p.add(1, 4, 100, 1);
    p.add(1, 2, 100, 1);
    expect(p.size).toBe(2);
    expect(p.overflow).toBe(1);
    expect(edges(p, 90, 104)).toEqual([
      [1, 2, 2],
      [1, 3, 1],
    ]);
  });

  it('purges in steps of at most the given slots to the very table a purge at once leaves', () => {
    const p = new PairTraffic(15);
    // 3,900 pairs (8,192 slots): those of an even a in epoch 25, of an odd a in epoch 28.
    for (let a = 0; a < 100; a++) for (let b = a + 1; b < 40 + a; b++) p.add(a, b, a % 2 === 0 ? 100 : 112, a + b);
    const copy = (): PairTraffic => {
      const s = p.exportState();
      return PairTraffic.fromState(15, p.maxPairs, { ...s, table: s.table.slice() });
    };
    const atOnce = copy();
    const stepped = copy();
    atOnce.purge(105);
    const sizes: number[] = [];
    for (const n of stepped.purgeSteps(105, 1000)) sizes.push(n);
    // The 8,192 slots counted, then walked again into a table of 4,096 for the 1,950 pairs left.
    const walk = [...Array<number>(8).fill(1000), 192];
    expect(sizes).toEqual([...walk, ...walk]);
    expect(stepped.exportState()).toEqual(atOnce.exportState());
    expect(stepped.size).toBe(1950);
    expect(stepped.exportState().table.length).toBe(4096 * 8);
    // Nothing gone: counted only.
    expect([...stepped.purgeSteps(105, 1000)]).toEqual([...Array<number>(4).fill(1000), 96]);
    expect(stepped.exportState()).toEqual(atOnce.exportState());
  });

  it('keeps every pair through table growth', () => {
    const p = new PairTraffic(15);
    for (let a = 0; a < 100; a++) for (let b = a + 1; b < 40 + a; b++) p.add(a, b, 100, a + b);
    const all = edges(p, 90, 104);
    expect(all).toHaveLength(100 * 39);
    expect(all.every(([a, b, bytes]) => bytes === a + b)).toBe(true);
  });
});
