import { describe, expect, it } from 'vitest';
import { runToEnd } from '../../src/core/slices.ts';
import { Random } from '../../src/core/random.ts';
import { sortPairsSteps } from '../../src/runs/run-input.ts';

describe("the run input's traffic graph, ordered in steps", () => {
  it('orders the edges by (a, b), ties in their given order, as a stable sort does, in steps of at most the given edges', () => {
    const rng = new Random(7);
    const random = (): number => rng.next();
    const rows = 300;
    const as: number[] = [];
    const bs: number[] = [];
    const ws: number[] = [];
    for (let i = 0; i < 5000; i++) {
      // Row 3 is a hub (hundreds of peers): its edges take the typed array's sort, the others insertion.
      const a = i % 10 === 0 ? 3 : Math.floor(random() * (rows - 1));
      as.push(a);
      bs.push(a + 1 + Math.floor(random() * (rows - a - 1)));
      ws.push(i);
    }
    const order = Array.from(as.keys()).sort((x, y) => as[x]! - as[y]! || bs[x]! - bs[y]!);
    const expected = { a: Int32Array.from(order, (i) => as[i]!), b: Int32Array.from(order, (i) => bs[i]!), bytes: Float64Array.from(order, (i) => ws[i]!) };
    expect(runToEnd(sortPairsSteps(as, bs, ws, rows, Number.POSITIVE_INFINITY))).toEqual(expected);
    const steps = sortPairsSteps(as, bs, ws, rows, 400);
    const sizes: number[] = [];
    let r = steps.next();
    for (; r.done !== true; r = steps.next()) sizes.push(r.value);
    expect(r.value).toEqual(expected);
    // Counting, placing and copying: 13 steps of at most 400 edges each, three times; the rows' sorts: a
    // step may run over by one row's edges (a row is not cut), the hub's 500 and more at most.
    const rowSizes = new Map<number, number>();
    for (const a of as) rowSizes.set(a, (rowSizes.get(a) ?? 0) + 1);
    const biggestRow = Math.max(...rowSizes.values());
    expect(biggestRow).toBeGreaterThan(500);
    expect(Math.max(...sizes)).toBeLessThan(400 + biggestRow);
    expect(sizes.filter((n) => n <= 400).length).toBeGreaterThanOrEqual(3 * 13);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(4 * 5000);
    expect(runToEnd(sortPairsSteps([], [], [], 0, 10))).toEqual({ a: new Int32Array(0), b: new Int32Array(0), bytes: new Float64Array(0) });
  });
});
