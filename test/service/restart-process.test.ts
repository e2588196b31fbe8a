/**
 * The real service (embedded trace) stopped and started again over the same MODELS_DIR: /v1/runs keeps
 * the first process's runs and the second continues their numbering; /metrics counts lifecycle events.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getJson, type ServiceProcess, startServiceProcess, waitFor } from '../helpers/service-process.ts';

interface RunsBody {
  runs: Array<{ run_id: string; previous_run_id: string | null; vms: { k: number; changes: Record<string, number> } }>;
}

async function whenReady(service: ServiceProcess): Promise<void> {
  await waitFor(async () => ((await getJson(`${service.url}/readyz`)).status === 200 ? true : undefined), 120_000, 'the service to be ready');
}

const number = (runId: string): number => Number(runId.slice('run-'.length));

describe('service restart', () => {
  it('keeps /v1/runs and continues the run ids; lifecycle metrics count the runs of the process', async () => {
    const modelsDir = await mkdtemp(join(tmpdir(), 'restart-models-'));
    const env = { MODELS_DIR: modelsDir, STATE_DIR: await mkdtemp(join(tmpdir(), 'restart-state-')), RECLUSTER_WALLCLOCK_SECONDS: '0' };

    const first = await startServiceProcess(env);
    let before: RunsBody;
    try {
      await whenReady(first);
      before = (await getJson<RunsBody>(`${first.url}/v1/runs`)).body;
      expect(before.runs.length).toBeGreaterThan(1);
      expect(before.runs.map((r) => number(r.run_id))).toEqual(before.runs.map((_, i) => before.runs.length - i));
      const metrics = await (await fetch(`${first.url}/metrics`)).text();
      const born = before.runs.reduce((n, r) => n + (r.vms.changes.born ?? 0), 0);
      const moved = before.runs.reduce((n, r) => n + (r.vms.changes.moved ?? 0), 0);
      expect(metrics).toContain(`alcor_cluster_events_total{side="vm",event="born"} ${born}`);
      expect(metrics).toContain(`alcor_cluster_moves_total{side="vm"} ${moved}`);
      expect(metrics).toContain(`alcor_clusters{side="vm"} ${before.runs[0]!.vms.k}`);
    } finally {
      expect(await first.stop()).toBe(0);
    }

    const second = await startServiceProcess(env);
    try {
      // Before its own first run it already lists the earlier runs.
      const early = (await getJson<RunsBody>(`${second.url}/v1/runs`)).body;
      expect(early.runs.slice(-before.runs.length)).toEqual(before.runs);
      await whenReady(second);
      const after = (await getJson<RunsBody>(`${second.url}/v1/runs`)).body;
      const added = after.runs.length - before.runs.length;
      expect(added).toBeGreaterThan(0);
      expect(after.runs.slice(added)).toEqual(before.runs);
      expect(after.runs.map((r) => number(r.run_id))).toEqual(after.runs.map((_, i) => after.runs.length - i));
      // The second process's first run was matched against the loaded model's placement.
      expect(after.runs[added - 1]!.previous_run_id).toBe(`provisional-${before.runs[0]!.run_id}`);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 300_000);
});
