/**
 * The learner's tuple table grown ahead in steps (IntTupleTable.reserveInSlices) against one grown by idOf:
 * the same ids, look-ups and kept numbers, and no rehash inside idOf for the tuples reserved for.
 */
import { describe, expect, it } from 'vitest';
import { Random } from '../../src/core/random.ts';
import { IntTupleTable, SLOT_EXTRA, SLOT_VALUE } from '../../src/security-groups/int-table.ts';

/** 20,000 tuples, a quarter of them repeated, from a fixed seed. */
function tuples(): number[][] {
  const random = new Random(1512);
  const out: number[][] = [];
  for (let k = 0; k < 20_000; k++) {
    if (k > 0 && random.next() < 0.25) out.push(out[Math.floor(random.next() * out.length)]!);
    else out.push([Math.floor(random.next() * 5000), Math.floor(random.next() * 300) - 1, (1 << 24) + Math.floor(random.next() * 1e6), Math.floor(random.next() * 65536)]);
  }
  return out;
}

function run(steps: Generator<void, void, void>): number {
  let count = 0;
  while (steps.next().done !== true) count++;
  return count;
}

describe('IntTupleTable.reserveInSlices', () => {
  it('gives the same ids, look-ups and slot numbers as growing by idOf, and idOf then never rehashes', () => {
    const all = tuples();
    const grown = new IntTupleTable(16);
    const reserved = new IntTupleTable(16);
    const ids: number[] = [];
    for (let k = 0; k < all.length; k++) {
      const [a, b, c, d] = all[k]!;
      const id = grown.idOf(a!, b!, c!, d!);
      grown.slots[grown.slot + SLOT_VALUE]! += 1;
      grown.slots[grown.slot + SLOT_EXTRA] = id * 7;
      ids.push(id);
      // Ahead of every 1,000 tuples, as a computation does ahead of a step.
      if (k % 1000 === 0 && !reserved.hasRoomFor(1000)) {
        const before = reserved.size;
        const steps = run(reserved.reserveInSlices(reserved.size + 1000, 100));
        // In steps of 100 tuples: more than one step once there are hundreds to move.
        if (before >= 200) expect(steps).toBeGreaterThan(1);
        expect(reserved.hasRoomFor(1000)).toBe(true);
      }
      const slots = reserved.slots;
      expect(reserved.idOf(a!, b!, c!, d!)).toBe(id);
      expect(reserved.slots).toBe(slots);
      reserved.slots[reserved.slot + SLOT_VALUE]! += 1;
      reserved.slots[reserved.slot + SLOT_EXTRA] = id * 7;
    }
    expect(reserved.size).toBe(grown.size);
    expect(Array.from(reserved.keys.subarray(0, 4 * reserved.size))).toEqual(Array.from(grown.keys.subarray(0, 4 * grown.size)));
    for (const [a, b, c, d] of all) {
      const id = grown.find(a!, b!, c!, d!);
      expect(reserved.find(a!, b!, c!, d!)).toBe(id);
      expect(reserved.slots[reserved.slot + SLOT_VALUE]).toBe(grown.slots[grown.slot + SLOT_VALUE]);
      expect(reserved.slots[reserved.slot + SLOT_EXTRA]).toBe(id * 7);
    }
    expect(reserved.find(-5, 0, 0, 0)).toBe(-1);
    // The repeated tuples counted on the tuple they repeat: 20,000 in all.
    let sum = 0;
    for (let s = 0; s < reserved.slots.length; s += 8) sum += reserved.slots[s + SLOT_VALUE]!;
    expect(sum).toBe(20_000);
  });
});
