import { describe, expect, it } from 'vitest';
import type { ClusteringOutcome } from '../../src/clustering/types.ts';
import type { ClusteringRun, Side } from '../../src/runs/clustering-run.ts';
import { assignIdentities, assignIdentitiesSteps, countEvents, initialIdentity, type LifecycleEvent, matchSide, sideClusters } from '../../src/runs/identity.ts';

/** A side whose clusters are given as member lists, label = position; centroids on one feature. */
function sideOf(groups: string[][], centroids: number[] = groups.map((_, i) => i * 10), noise: string[] = []): Side {
  const ids: string[] = [];
  const labels: number[] = [];
  groups.forEach((members, label) => {
    for (const id of members) {
      ids.push(id);
      labels.push(label);
    }
  });
  for (const id of noise) {
    ids.push(id);
    labels.push(-1);
  }
  const outcome: ClusteringOutcome = {
    algorithm: 'kmeans',
    parameters: {},
    labels: Int32Array.from(labels),
    k: groups.length,
    quality: { silhouette: null, inertia: null, noise: noise.length, candidates: [] },
    clusters: groups.map((m, index) => ({ index, size: m.length, centroid: [centroids[index]!], distinguishing: [] })),
    model: { means: [0], scales: [1], weights: [1], constant: [0], pcaComponents: null, centroids: [] },
    timings: {},
  };
  return {
    ids,
    clusterIds: labels.map((l) => (l < 0 ? 'noise' : `vm-${l}`)),
    labelIds: groups.map((_, l) => `vm-${l}`),
    outcome,
    features: { rows: ids.length, cols: 1, data: new Float64Array(ids.length), names: ['f'] },
  };
}

const range = (prefix: string, from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

function runOf(runId: string, vms: Side, tenants: Side = sideOf([])): ClusteringRun {
  return { runId, computedAt: 0, windowMs: 900_000, vms, tenants, vmTenants: vms.ids.map(() => null), durationMs: 1 };
}

const byType = (events: LifecycleEvent[], type: LifecycleEvent['type']) => events.filter((e) => e.type === type);

describe('stable cluster identities', () => {
  it('numbers the first run by label (size order) and marks every cluster born', () => {
    const first = assignIdentities(runOf('r1', sideOf([range('a', 0, 5), range('b', 0, 3)])), initialIdentity);
    expect(first.run.vms.labelIds).toEqual(['vm-0', 'vm-1']);
    expect(first.changes.previousRunId).toBeNull();
    expect(first.changes.vms.events.map((e) => [e.type, e.clusterId, e.size])).toEqual([
      ['born', 'vm-0', 5],
      ['born', 'vm-1', 3],
    ]);
    expect(first.state.nextVm).toBe(2);
  });

  it('changes no id when the same partition comes back, whatever the labels', () => {
    const groups = [range('a', 0, 8), range('b', 0, 6), range('c', 0, 4)];
    const first = assignIdentities(runOf('r1', sideOf(groups)), initialIdentity);
    // The same partition with its labels permuted (k-means numbers by size; ties can reorder).
    const again = assignIdentities(runOf('r2', sideOf([groups[2]!, groups[0]!, groups[1]!], [20, 0, 10])), first.state);
    expect(again.run.vms.labelIds).toEqual(['vm-2', 'vm-0', 'vm-1']);
    expect(again.run.vms.clusterIds.slice().sort()).toEqual(first.run.vms.clusterIds.slice().sort());
    expect(again.changes.vms).toEqual({ events: [], moved: [] });
    expect(again.state.nextVm).toBe(3);
  });

  it('keeps ids through moves and growth, and records born, died, split, merged and moved', () => {
    const prev = sideOf(
      [range('a', 0, 20), range('b', 0, 20), range('c', 0, 20), range('e', 0, 10), range('f', 0, 10)],
      [0, 10, 20, 30, 31],
    );
    const first = assignIdentities(runOf('r1', prev), initialIdentity);
    // a: 5 members move to b; b also gains 7 VMs never seen before; c splits 12/8;
    // e and f merge (their centroids put the merged cluster nearer e); d is a new group of new VMs.
    const cur = sideOf(
      [
        [...range('b', 0, 20), ...range('a', 15, 20), ...range('new', 0, 7)],
        range('a', 0, 15),
        [...range('e', 0, 10), ...range('f', 0, 10)],
        range('c', 0, 12),
        range('d', 0, 10),
        range('c', 12, 20),
      ],
      [10, 0, 30.2, 20, 50, 25],
    );
    const next = assignIdentities(runOf('r2', cur), first.state);
    const ids = next.run.vms.labelIds;
    expect(ids.slice(0, 4)).toEqual(['vm-1', 'vm-0', 'vm-3', 'vm-2']);
    expect(ids.slice(4)).toEqual(['vm-5', 'vm-6']);
    const ev = next.changes.vms.events;
    expect(byType(ev, 'born')).toEqual([
      { type: 'born', clusterId: 'vm-5', size: 10, from: [], into: [] },
      { type: 'born', clusterId: 'vm-6', size: 8, from: ['vm-2'], into: [] },
    ]);
    expect(byType(ev, 'died')).toEqual([{ type: 'died', clusterId: 'vm-4', size: 10, from: [], into: ['vm-3'] }]);
    expect(byType(ev, 'split')).toEqual([{ type: 'split', clusterId: 'vm-2', size: 20, from: [], into: ['vm-2', 'vm-6'] }]);
    expect(byType(ev, 'merged')).toEqual([{ type: 'merged', clusterId: 'vm-3', size: 20, from: ['vm-3', 'vm-4'], into: [] }]);
    // Five VMs of a moved to b, f joined e's id, eight of c went to the new part; nothing else.
    const moved = next.changes.vms.moved;
    expect(moved.filter((m) => m.from === 'vm-0')).toEqual(range('a', 15, 20).map((id) => ({ id, from: 'vm-0', to: 'vm-1' })));
    expect(moved.filter((m) => m.from === 'vm-4').map((m) => m.to)).toEqual(Array(10).fill('vm-3'));
    expect(moved.filter((m) => m.from === 'vm-2').map((m) => m.to)).toEqual(Array(8).fill('vm-6'));
    expect(moved).toHaveLength(23);
    expect(countEvents(next.changes.vms)).toEqual({ born: 2, died: 1, split: 1, merged: 1, moved: 23 });
    expect(next.state.nextVm).toBe(7);
  });

  it('lets a cluster whose members scattered die, and never reuses its id', () => {
    const first = assignIdentities(runOf('r1', sideOf([range('a', 0, 9), range('b', 0, 9)])), initialIdentity);
    // a's members are spread thinly over three new clusters together with b's: no overlap reaches 0.3
    // except b's with its largest part.
    const cur = sideOf([
      [...range('b', 0, 5), ...range('a', 0, 1)],
      [...range('a', 1, 4), ...range('b', 5, 7)],
      [...range('a', 4, 7), ...range('b', 7, 9)],
      range('a', 7, 9),
    ]);
    const next = assignIdentities(runOf('r2', cur), first.state);
    expect(next.run.vms.labelIds).toEqual(['vm-1', 'vm-2', 'vm-3', 'vm-4']);
    expect(byType(next.changes.vms.events, 'died').map((e) => e.clusterId)).toEqual(['vm-0']);
  });

  it('matches the same in steps of a few entities as at once, with a step per walk of that many', () => {
    const first = assignIdentities(runOf('r1', sideOf([range('a', 0, 9), range('b', 0, 9)])), initialIdentity);
    const cur = sideOf([[...range('b', 0, 5), ...range('a', 0, 1)], [...range('a', 1, 4), ...range('b', 5, 7)], [...range('a', 4, 9), ...range('b', 7, 9)]]);
    const atOnce = assignIdentities(runOf('r2', cur), first.state);
    const steps = assignIdentitiesSteps(runOf('r2', cur), first.state, 4);
    let yields = 0;
    let step = steps.next();
    for (; step.done !== true; step = steps.next()) yields++;
    expect(step.value).toEqual(atOnce);
    // VMs: 18 previous ids (a yield each 4), one after the sizes, 18 current ids twice (4 each), one before
    // and one after the moves; tenants (none): those 3 alone; then 3 between the sides and the result.
    expect(yields).toBe(4 + 1 + 4 + 1 + 4 + 1 + 3 + 3);
  });

  it('keeps noise as noise and reports VMs that enter or leave it', () => {
    const first = assignIdentities(runOf('r1', sideOf([range('a', 0, 4)], [0], ['x'])), initialIdentity);
    const next = assignIdentities(runOf('r2', sideOf([[...range('a', 0, 4), 'x']], [0], [])), first.state);
    expect(next.run.vms.labelIds).toEqual(['vm-0']);
    expect(next.changes.vms.moved).toEqual([{ id: 'x', from: 'noise', to: 'vm-0' }]);
  });

  it('breaks an overlap tie by centroid distance', () => {
    const prev = sideClusters(sideOf([range('a', 0, 10)], [0]));
    // Two equal halves: both have Jaccard 0.5; the one whose centroid stayed put keeps the id.
    const near = matchSide(prev, sideOf([range('a', 0, 5), range('a', 5, 10)], [9, 1]), 'vm-', 1);
    expect(near.labelIds).toEqual(['vm-1', 'vm-0']);
    const far = matchSide(prev, sideOf([range('a', 0, 5), range('a', 5, 10)], [1, 9]), 'vm-', 1);
    expect(far.labelIds).toEqual(['vm-0', 'vm-1']);
  });
});
