/**
 * The stability rule for k (stability.ts, select-k.ts selectKByStability): agreement of refits on
 * subsamples, and the largest k within a tolerance of the most stable one.
 */
import { describe, expect, it } from 'vitest';
import { cluster, type KCandidate, selectKByStability } from '../../src/clustering/index.ts';
import { pairAgreement } from '../../src/clustering/stability.ts';
import { adjustedRandIndex } from '../../src/evaluation/metrics.ts';
import { makeBlobs } from './synthetic.ts';

const candidate = (k: number, stability: number): KCandidate => ({
  k,
  silhouette: 0.5,
  inertia: 1,
  calinskiHarabasz: 1,
  minClusterSilhouette: 0.5,
  stability,
});

describe('pairAgreement', () => {
  it('is the adjusted Rand index of two labelings, whatever their label names', () => {
    const a = Int32Array.from([0, 0, 0, 1, 1, 2, 2, 2, 2]);
    const b = Int32Array.from([1, 1, 0, 0, 0, 2, 2, 1, 2]);
    expect(pairAgreement(a, b)).toBeCloseTo(adjustedRandIndex(Array.from(a), Array.from(b)), 12);
    expect(pairAgreement(a, Int32Array.from([2, 2, 2, 0, 0, 1, 1, 1, 1]))).toBe(1);
  });
});

describe('selectKByStability', () => {
  it('takes the largest k whose stability is within the tolerance of the most stable k', () => {
    const curve = [candidate(2, 0.9), candidate(3, 0.5), candidate(5, 0.99), candidate(6, 0.975), candidate(7, 0.96), candidate(8, 0.8)];
    expect(selectKByStability(curve, 0.02)).toBe(6);
    expect(selectKByStability(curve, 0)).toBe(5);
    expect(selectKByStability(curve, 0.04)).toBe(7);
    expect(selectKByStability([], 0.02)).toBeNull();
  });
});

describe('cluster with the stability rule', () => {
  it('finds the true k of separated blobs and records each candidate\'s stability', () => {
    const blobs = makeBlobs(7, 10, [
      { size: 40, spread: 0.5 },
      { size: 25, spread: 0.6 },
      { size: 60, spread: 0.4 },
      { size: 15, spread: 0.5 },
      { size: 30, spread: 0.7 },
    ]);
    const out = cluster(blobs.matrix, { seed: 1, kMax: 9, kSelection: 'stability' });
    expect(out.k).toBe(5);
    expect(adjustedRandIndex(Array.from(blobs.truth), Array.from(out.labels))).toBe(1);
    expect(out.parameters.kSelection).toBe('stability');
    expect(out.quality.candidates.map((c) => c.k)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(out.quality.candidates.every((c) => c.stability !== undefined && c.stability <= 1)).toBe(true);
    expect(out.quality.candidates.find((c) => c.k === 5)!.stability).toBe(1);
  });
});
