import { describe, expect, it } from 'vitest';
import { inSlices } from '../../src/core/slices.ts';

/** Steps that log `name` and the loop's turn at each, then return `name`. */
function* logged(name: string, count: number, log: string[], turn: () => number): Generator<void, string, void> {
  for (let i = 0; i < count; i++) {
    log.push(`${name}${i}@${turn()}`);
    yield;
  }
  return name;
}

describe('work in slices', () => {
  it('runs the first slice at once and the later ones in turn with the other jobs, one slice a turn of the event loop', async () => {
    // A turn counter: a setImmediate that queues itself runs once a turn.
    let turn = 0;
    let counting = true;
    const count = (): void => {
      turn++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const log: string[] = [];
    // Slices of no time: one step each.
    const a = inSlices(logged('a', 3, log, () => turn), 0);
    const b = inSlices(logged('b', 2, log, () => turn), 0);
    expect(log).toEqual(['a0@0', 'b0@0']);
    expect(await Promise.all([a, b])).toEqual(['a', 'b']);
    counting = false;
    // a and b alternate, each slice in a turn of its own (the turns of the later slices strictly increase).
    expect(log.map((x) => x.split('@')[0])).toEqual(['a0', 'b0', 'a1', 'b1', 'a2']);
    const turns = log.slice(2).map((x) => Number(x.split('@')[1]));
    expect(turns.every((t, i) => i === 0 || t > turns[i - 1]!)).toBe(true);
  });

  it('rejects with what a step throws, and the other jobs go on', async () => {
    function* failing(): Generator<void, never, void> {
      yield;
      throw new Error('step failed');
    }
    const log: string[] = [];
    const bad = inSlices(failing(), 0);
    const good = inSlices(logged('g', 3, log, () => 0), 0);
    await expect(bad).rejects.toThrow('step failed');
    expect(await good).toBe('g');
    expect(log).toEqual(['g0@0', 'g1@0', 'g2@0']);
  });
});
