import { describe, expect, it } from 'vitest';
import { clusterTable, placementLines } from '../../src/cli/summary.ts';
import { advisePlacement } from '../placement/advise.ts';
import type { PlacementVm } from '../../src/placement/types.ts';
import type { SideSummary } from '../../src/runs/result.ts';

const side = (named: boolean): SideSummary => ({
  algorithm: 'kmeans',
  parameters: {},
  quality: { k: 2, silhouette: 0.5, inertia: 1, noise: 0 },
  clusters: [
    {
      cluster_id: 'vm-0',
      size: 1234,
      ...(named ? { name: 'serves web' } : {}),
      distinguishing: [
        { feature: 'served_web_share', value: 0.812, overall: 0.1, z: 2.04 },
        { feature: 'log_peers_in', value: 4.5, overall: 2, z: -1.26 },
      ],
    },
    { cluster_id: 'vm-1', size: 7, ...(named ? { name: 'idle' } : {}), distinguishing: [{ feature: 'bytes', value: 1500, overall: 10, z: 0.5 }] },
  ],
});

describe('clusterTable', () => {
  it('lists id, size, name and the traits that set each cluster apart, in plain text', () => {
    expect(clusterTable(side(true), 'VMs').split('\n')).toEqual([
      '┌────────────┬─────────┬──────────────────────────────┬──────────────────────────────────────────────────────────────────┐',
      '│ cluster    │     VMs │ name                         │ sets it apart (value, z)                                         │',
      '├────────────┼─────────┼──────────────────────────────┼──────────────────────────────────────────────────────────────────┤',
      '│ vm-0       │   1,234 │ serves web                   │ served_web_share 0.812 (+2.0σ), log_peers_in 4.50 (-1.3σ)        │',
      '│ vm-1       │       7 │ idle                         │ bytes 1500 (+0.5σ)                                               │',
      '└────────────┴─────────┴──────────────────────────────┴──────────────────────────────────────────────────────────────────┘',
    ]);
  });

  it('has no name column when no cluster has a name', () => {
    const header = clusterTable(side(false), 'tenants').split('\n')[1]!;
    expect(header.split('│').map((c) => c.trim())).toEqual(['', 'cluster', 'tenants', 'sets it apart (value, z)', '']);
  });
});

describe('placementLines', () => {
  it('with tiers, states the weighted cost beside the cross-host bytes, fleet-wide and per move', () => {
    const vm = (id: string, host: string, pinned: boolean): PlacementVm => ({ id, tenant: 't', host, vcpus: 2, memoryMb: 2048, labels: pinned ? { pinned: 'true' } : null });
    const roomy = { vcpus: 8, memoryMb: 8192 };
    const advice = advisePlacement(
      {
        vms: [vm('a', 'h1', false), vm('b', 'h3', true)],
        pairs: { a: Int32Array.of(0), b: Int32Array.of(1), bytes: Float64Array.of(600) },
        hostCapacity: new Map([
          ['h1', { ...roomy, labels: { zone: 'z1', rack: 'r1' } }],
          ['h3', { vcpus: 2, memoryMb: 2048, labels: { zone: 'z2', rack: 'r3' } }],
          ['h4', { ...roomy, labels: { zone: 'z2', rack: 'r3' } }],
        ]),
        groups: null,
        windowMinutes: 1,
      },
      { maxMoves: 1 },
    );
    expect(placementLines(advice, undefined)).toEqual([
      'placement: 1 migrations (budget 1, groups) cut cross-host traffic 600 -> 600 B/min (0.0%)',
      '  tiers (rack/zone, distances 1/2/3): weighted cost 1,800 -> 600 B/min x distance',
      '  a: h1 -> h4 saves 0 B/min cross-host, 1,200 weighted (better: h3, stopped by vcpus)',
    ]);
  });
});
