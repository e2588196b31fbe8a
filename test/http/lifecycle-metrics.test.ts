/**
 * Lifecycle metrics on GET /metrics: counters of cluster events and moves by side over the runs, the
 * latest run's counts as gauges, next to its cluster count and silhouette.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusteringRun } from '../../src/runs/clustering-run.ts';
import type { RunChanges, SideChanges } from '../../src/runs/identity.ts';
import { appFor, replaySmall, type TestApp } from './helpers.ts';

let test: TestApp;
let run: ClusteringRun;

beforeAll(async () => {
  const replayed = await replaySmall();
  run = replayed.run;
  test = appFor(replayed.view);
}, 120_000);

afterAll(async () => {
  await test?.app.close();
});

const event = (type: SideChanges['events'][number]['type'], clusterId: string) => ({ type, clusterId, size: 3, from: [], into: [] });
const moved = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `x${i}`, from: 'vm-0', to: 'vm-1' }));

async function scrape(): Promise<string[]> {
  const res = await test.app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  return res.body.split('\n').filter((l) => /^alcor_(cluster_events_total|cluster_moves_total|last_run_changes|clusters|silhouette)\{/.test(l));
}

describe('lifecycle metrics', () => {
  it('starts every series at 0, then counts each run\'s events and moves by side', async () => {
    expect((await scrape()).filter((l) => l.startsWith('alcor_cluster_'))).toEqual([
      'alcor_cluster_events_total{side="vm",event="born"} 0',
      'alcor_cluster_events_total{side="vm",event="died"} 0',
      'alcor_cluster_events_total{side="vm",event="split"} 0',
      'alcor_cluster_events_total{side="vm",event="merged"} 0',
      'alcor_cluster_events_total{side="tenant",event="born"} 0',
      'alcor_cluster_events_total{side="tenant",event="died"} 0',
      'alcor_cluster_events_total{side="tenant",event="split"} 0',
      'alcor_cluster_events_total{side="tenant",event="merged"} 0',
      'alcor_cluster_moves_total{side="vm"} 0',
      'alcor_cluster_moves_total{side="tenant"} 0',
    ]);

    const first: RunChanges = {
      runId: 'run-000001',
      previousRunId: null,
      vms: { events: [event('born', 'vm-0'), event('born', 'vm-1'), event('born', 'vm-2')], moved: [] },
      tenants: { events: [event('born', 'tenant-0')], moved: [] },
    };
    const second: RunChanges = {
      runId: 'run-000002',
      previousRunId: 'run-000001',
      vms: { events: [event('split', 'vm-1'), event('born', 'vm-3'), event('died', 'vm-2'), event('merged', 'vm-0')], moved: moved(7) },
      tenants: { events: [], moved: moved(2) },
    };
    test.metrics.runChanges(first);
    test.metrics.runCompleted(run);
    test.metrics.runChanges(second);
    expect(await scrape()).toEqual([
      'alcor_clusters{side="vm"} 24',
      'alcor_clusters{side="tenant"} 6',
      `alcor_silhouette{side="vm"} ${run.vms.outcome.quality.silhouette}`,
      `alcor_silhouette{side="tenant"} ${run.tenants.outcome.quality.silhouette}`,
      'alcor_cluster_events_total{side="vm",event="born"} 4',
      'alcor_cluster_events_total{side="vm",event="died"} 1',
      'alcor_cluster_events_total{side="vm",event="split"} 1',
      'alcor_cluster_events_total{side="vm",event="merged"} 1',
      'alcor_cluster_events_total{side="tenant",event="born"} 1',
      'alcor_cluster_events_total{side="tenant",event="died"} 0',
      'alcor_cluster_events_total{side="tenant",event="split"} 0',
      'alcor_cluster_events_total{side="tenant",event="merged"} 0',
      'alcor_cluster_moves_total{side="vm"} 7',
      'alcor_cluster_moves_total{side="tenant"} 2',
      'alcor_last_run_changes{side="vm",change="born"} 1',
      'alcor_last_run_changes{side="vm",change="died"} 1',
      'alcor_last_run_changes{side="vm",change="split"} 1',
      'alcor_last_run_changes{side="vm",change="merged"} 1',
      'alcor_last_run_changes{side="vm",change="moved"} 7',
      'alcor_last_run_changes{side="tenant",change="born"} 0',
      'alcor_last_run_changes{side="tenant",change="died"} 0',
      'alcor_last_run_changes{side="tenant",change="split"} 0',
      'alcor_last_run_changes{side="tenant",change="merged"} 0',
      'alcor_last_run_changes{side="tenant",change="moved"} 2',
    ]);
  });
});
