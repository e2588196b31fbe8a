import { describe, expect, it } from 'vitest';
import { projectVms } from '../../src/cli/projection.ts';

describe('projectVms (features, when a run has no projection of its own)', () => {
  it('puts VMs that differ along one direction apart on the first axis, whatever the units', () => {
    // Two groups on a line in (a, b); c is constant and must be left out, d is unknown for one VM.
    const rows = [
      [0, 0, 5, 1],
      [0.1, 10, 5, 1],
      [0, 20, 5, Number.NaN],
      [10, 1000, 5, 1],
      [10.1, 1010, 5, 1],
      [10, 1020, 5, 1],
    ];
    const p = projectVms({ rows: 6, cols: 4, data: Float64Array.from(rows.flat()), names: ['a', 'b', 'c', 'd'] }, ['v0', 'v1', 'v2', 'v3', 'v4', 'v5']);
    expect(p.method).toBe('features');
    const x = ['v0', 'v1', 'v2', 'v3', 'v4', 'v5'].map((id) => p.points[id]![0]);
    const [low, high] = x[0]! < x[3]! ? [x.slice(0, 3), x.slice(3)] : [x.slice(3), x.slice(0, 3)];
    expect(Math.max(...low)).toBeLessThan(Math.min(...high));
    expect(p.explained_variance[0]).toBeGreaterThan(0.9);
    for (const [a, b] of Object.values(p.points)) expect(Number.isFinite(a) && Number.isFinite(b)).toBe(true);
  });
});
