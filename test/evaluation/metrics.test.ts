import { describe, expect, it } from 'vitest';
import { adjustedRandIndex, contingency, normalizedMutualInformation } from '../../src/evaluation/metrics.ts';

// Expected values computed with scikit-learn 1.9.1:
// sklearn.metrics.adjusted_rand_score and normalized_mutual_info_score (average_method='arithmetic').
const cases: Array<{ name: string; truth: Array<string | number>; predicted: Array<string | number>; ari: number; nmi: number }> = [
  { name: 'one merge and one split', truth: [0, 0, 1, 1, 2, 2], predicted: [0, 0, 1, 1, 1, 2], ari: 0.4444444444444444, nmi: 0.7396673768007592 },
  { name: 'shifted groups', truth: [0, 0, 0, 1, 1, 1, 2, 2, 2, 3], predicted: [1, 1, 0, 0, 2, 2, 2, 3, 3, 3], ari: 0.2028985507246377, nmi: 0.5920135846617086 },
  { name: 'worse than chance', truth: [0, 0, 1, 1], predicted: [0, 1, 0, 1], ari: -0.5, nmi: 0 },
  { name: 'all singletons against one group', truth: [0, 0, 0, 0], predicted: [0, 1, 2, 3], ari: 0, nmi: 0 },
  { name: 'mixed label types', truth: ['x', 'x', 'y', 'y', 'z'], predicted: [5, 5, 5, 7, 7], ari: 0.09090909090909091, nmi: 0.4580652856440157 },
];

describe('adjustedRandIndex and normalizedMutualInformation', () => {
  for (const c of cases) {
    it(`match scikit-learn: ${c.name}`, () => {
      expect(adjustedRandIndex(c.truth, c.predicted)).toBeCloseTo(c.ari, 12);
      expect(normalizedMutualInformation(c.truth, c.predicted)).toBeCloseTo(c.nmi, 12);
    });
  }

  it('match scikit-learn on 20 000 points, where pair counts exceed 2^53', () => {
    const truth = Array.from({ length: 20000 }, (_, i) => (i % 3 ? i % 7 : i % 5));
    const predicted = Array.from({ length: 20000 }, (_, i) => (i % 4 ? (i * i + 3) % 11 : i % 7));
    expect(adjustedRandIndex(truth, predicted)).toBeCloseTo(0.027134059138551075, 12);
    expect(normalizedMutualInformation(truth, predicted)).toBeCloseTo(0.06870513661144187, 12);
  });

  it('score identical partitions 1 whatever the label names', () => {
    const truth = Int32Array.from([3, 3, 1, 1, 2, 0]);
    const predicted = ['a', 'a', 'b', 'b', 'c', 'd'];
    expect(adjustedRandIndex(truth, predicted)).toBe(1);
    expect(normalizedMutualInformation(truth, predicted)).toBe(1);
  });

  it('treat one group against one group as identical', () => {
    expect(adjustedRandIndex([1, 1, 1], [2, 2, 2])).toBe(1);
    expect(normalizedMutualInformation([1, 1, 1], [2, 2, 2])).toBe(1);
  });

  it('reject label arrays of different lengths', () => {
    expect(() => adjustedRandIndex([1, 2], [1])).toThrow(RangeError);
  });
});

describe('contingency', () => {
  it('counts each (truth, predicted) pair', () => {
    const c = contingency(['a', 'a', 'b'], [1, 2, 2]);
    expect([c.rows, c.cols, c.n]).toEqual([2, 2, 3]);
    expect(Array.from(c.table)).toEqual([1, 1, 0, 1]);
    expect(Array.from(c.rowSums)).toEqual([2, 1]);
    expect(Array.from(c.colSums)).toEqual([1, 2]);
  });
});
