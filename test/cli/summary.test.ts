import { describe, expect, it } from 'vitest';
import { clusterTable } from '../../src/cli/summary.ts';
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
