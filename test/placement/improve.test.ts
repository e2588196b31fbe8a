/**
 * The improvement phase (src/placement/improve.ts) on small fleets built by hand, where the plain greedy
 * finds nothing: a quiet VM evicted to make room for a chatty one, a group gathered onto a host made free,
 * and a swap between two full hosts that no order of single moves can apply (never suggested).
 */
import { describe, expect, it } from 'vitest';
import { prepareFleet } from '../../src/placement/fleet.ts';
import { moveOrder } from '../../src/placement/improve.ts';
import { type Capacity, defaultPlacementOptions, type PlacementInput, type PlacementVm } from '../../src/placement/types.ts';
import { advisePlacement } from './advise.ts';

const CAP: Capacity = { vcpus: 4, memoryMb: 4096 };

function vm(id: string, host: string, labels: Record<string, string> | null = null): PlacementVm {
  return { id, tenant: 't', host, vcpus: 2, memoryMb: 1024, labels };
}

function input(vms: PlacementVm[], pairs: Array<[string, string, number]>, hosts: string[]): PlacementInput {
  const row = new Map(vms.map((v, i) => [v.id, i]));
  return {
    vms,
    pairs: {
      a: Int32Array.from(pairs, (p) => row.get(p[0])!),
      b: Int32Array.from(pairs, (p) => row.get(p[1])!),
      bytes: Float64Array.from(pairs, (p) => p[2]),
    },
    hostCapacity: new Map(hosts.map((h) => [h, CAP])),
    groups: null,
    windowMinutes: 1,
  };
}

describe('placement improvement phase', () => {
  it('evicts a quiet VM from a full host so that a chatty one fits, as one step', () => {
    // A and B are full; b2 is pinned, so b1 can only join a1 on A once q leaves for C.
    const fleet = input(
      [vm('a1', 'A'), vm('q', 'A'), vm('b1', 'B'), vm('b2', 'B', { pinned: 'true' }), vm('c1', 'C')],
      [['a1', 'b1', 600]],
      ['A', 'B', 'C'],
    );
    const baseline = advisePlacement(fleet, { maxMoves: 2, strategy: 'single' });
    expect(baseline.moves).toEqual([]);
    expect(baseline.no_moves_reason).toBe('no_feasible_move');
    const advice = advisePlacement(fleet, { maxMoves: 2 });
    expect(advice.moves.map((m) => [m.step, m.vm_ids, m.from_host, m.to_host, m.bytes_per_minute_saved])).toEqual([
      [0, ['q'], 'A', 'C', 0],
      [0, ['b1'], 'B', 'A', 600],
    ]);
    expect(advice.cross_host_bytes_per_minute).toEqual({ before: 600, after: 0 });
    expect(advice.moves.map((m) => m.to_load.vcpus)).toEqual([4, 4]);
    // With one migration the eviction does not fit in the budget: nothing to suggest.
    expect(advisePlacement(fleet, { maxMoves: 1 }).moves).toEqual([]);
  });

  it('never suggests a swap between two full hosts: no order of single moves applies it', () => {
    // Swapping a1 and b1 would take all 1,000 B/min off the fabric, but each host is full until the other
    // VM has left.
    const fleet = input(
      [vm('a1', 'A'), vm('x', 'A'), vm('b1', 'B'), vm('y', 'B')],
      [
        ['a1', 'y', 500],
        ['b1', 'x', 500],
      ],
      ['A', 'B'],
    );
    const advice = advisePlacement(fleet, { maxMoves: 4 });
    expect(advice.moves).toEqual([]);
    expect(advice.no_moves_reason).toBe('no_feasible_move');
    const f = prepareFleet(fleet, defaultPlacementOptions);
    const swapped = f.hostOf.slice();
    [swapped[0], swapped[2]] = [f.hostOf[2]!, f.hostOf[0]!];
    expect(moveOrder(f, swapped)).toBeNull();
  });
});
