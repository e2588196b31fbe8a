import { describe, expect, it } from 'vitest';
import { Random } from '../../src/core/random.ts';
import type { VmEntry } from '../../src/fleet/vm-entry.ts';
import { VmIndex } from '../../src/fleet/vm-index.ts';

describe('VmIndex', () => {
  it('agrees with a Map through inserts, updates, deletes and growth, for ids that differ only at the end', () => {
    const index = new VmIndex();
    const map = new Map<string, VmEntry>();
    const rng = new Random(3);
    for (let step = 0; step < 20_000; step++) {
      const id = `vm-${String(rng.int(0, 3000)).padStart(6, '0')}`;
      const op = rng.int(0, 9);
      if (op < 6) {
        const entry = { vmId: id, serial: step } as unknown as VmEntry;
        index.set(id, entry);
        map.set(id, entry);
      } else if (op < 8) {
        index.delete(id);
        map.delete(id);
      }
      // A fresh string with the same content must find the same entry.
      const probe = `vm-${id.slice(3)}`;
      expect(index.get(probe)).toBe(map.get(id));
    }
  });

  it('stays sized by its live keys while VMs come and go', () => {
    const index = new VmIndex();
    const entry = {} as VmEntry;
    // 200,000 VMs over time, at most 300 at once: tombstones must not double the table at each rebuild.
    for (let i = 0; i < 200_000; i++) {
      index.set(`vm-${i}`, entry);
      if (i >= 300) index.delete(`vm-${i - 300}`);
    }
    expect(index.size).toBe(300);
    expect(index.slots).toBeLessThanOrEqual(2048);
    expect(index.get('vm-199999')).toBe(entry);
    expect(index.get('vm-199699')).toBeUndefined();
  });
});
