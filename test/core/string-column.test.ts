import { describe, expect, it } from 'vitest';
import { Random } from '../../src/core/random.ts';
import { columnBuffers, packStrings, unpackIds, unpackStrings } from '../../src/core/string-column.ts';

describe('a column of strings as typed arrays, for a worker thread', () => {
  it('gives back every string and null as it went, lone surrogates and empty strings included', () => {
    const values = ['vm-1', null, '', 'tenant-é', '\ud800', '😀x', null, 'a'.repeat(20_000)];
    const column = packStrings(values);
    expect(Array.from(column.ends)).toEqual([4, -5, 4, 12, 13, 16, -17, 20_016]);
    expect(unpackStrings(column)).toEqual(values);
    expect(unpackStrings(packStrings([]))).toEqual([]);
    // A short column (its copy made here, not by Buffer: a pooled buffer is shared, never to be moved).
    expect(unpackStrings(packStrings(['\udc00', null, 'vm-é']))).toEqual(['\udc00', null, 'vm-é']);
    expect(() => unpackIds(column)).toThrow('a column of ids holds a null');
  });

  it('survives a transfer to another thread (structured clone with the buffers moved), 11.6k random ids', () => {
    const rng = new Random(11);
    const ids = Array.from({ length: 11_642 }, (_, i) => (i % 97 === 0 ? null : `vm-${Math.floor(rng.next() * 1e9).toString(36)}-${i}`));
    const column = packStrings(ids);
    const moved = structuredClone(column, { transfer: columnBuffers(column) });
    // Moved, not copied: the sender's arrays are detached.
    expect(column.units.length).toBe(0);
    expect(column.ends.length).toBe(0);
    expect(unpackStrings(moved)).toEqual(ids);
    expect(unpackIds(packStrings(ids.filter((id) => id !== null)))).toEqual(ids.filter((id) => id !== null));
  });
});
