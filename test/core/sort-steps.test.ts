import { describe, expect, it } from 'vitest';
import { Random } from '../../src/core/random.ts';
import { runToEnd } from '../../src/core/slices.ts';
import { SORT_RUN, sortSteps } from '../../src/core/sort-steps.ts';

function stepsOf<T>(steps: Generator<number, T, void>): { sizes: number[]; value: T } {
  const sizes: number[] = [];
  let r = steps.next();
  for (; r.done !== true; r = steps.next()) sizes.push(r.value);
  return { sizes, value: r.value };
}

describe('a stable sort in steps', () => {
  it('gives what Array.prototype.sort gives, ties in their given order, in steps of exactly the given elements but the last', () => {
    const random = new Random(20261206);
    // 1,000 elements on 100 keys: ten ties a key on average, told apart by their index.
    const items = Array.from({ length: 1000 }, (_, i) => ({ key: Math.floor(random.next() * 100), i }));
    const before = items.map((x) => ({ ...x }));
    const byKey = (a: { key: number }, b: { key: number }): number => a.key - b.key;
    const { sizes, value } = stepsOf(sortSteps(items, byKey, 64));
    expect(value).toEqual([...items].sort(byKey));
    expect(value.every((x, k) => k === 0 || value[k - 1]!.key < x.key || (value[k - 1]!.key === x.key && value[k - 1]!.i < x.i))).toBe(true);
    // The runs once (1,000 placed), then the merges of widths 32, 64, 128, 256 and 512: 6,000 in all, by 64.
    expect(SORT_RUN).toBe(32);
    expect(sizes).toEqual([...Array<number>(93).fill(64), 48]);
    expect(items).toEqual(before);
  });

  it('orders VM ids as the fleet compared them, at once too, and takes no step for nothing', () => {
    const random = new Random(7);
    const ids = Array.from({ length: 500 }, () => `vm-${Math.floor(random.next() * 1e9).toString(16)}`);
    const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
    expect(runToEnd(sortSteps(ids, byId, Number.POSITIVE_INFINITY))).toEqual([...ids].sort(byId));
    // A step of one: a whole run at a time (16 runs of 500), then one element per step in each of 4 merge passes.
    expect(stepsOf(sortSteps(ids, byId, 1)).sizes.length).toBe(16 + 4 * 500);
    expect(stepsOf(sortSteps([], byId, 10))).toEqual({ sizes: [], value: [] });
    expect(stepsOf(sortSteps(['b'], byId, 10))).toEqual({ sizes: [1], value: ['b'] });
    // One run exactly: no merge pass.
    expect(stepsOf(sortSteps(ids.slice(0, 32), byId, 1000))).toEqual({ sizes: [32], value: ids.slice(0, 32).sort(byId) });
  });
});
