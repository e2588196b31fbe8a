/**
 * The real service (embedded demo) stopped and started again over the same MODELS_DIR: the demo replays
 * the same trace from its start, so each start has a clean run history of its own (kept apart from a
 * Kafka service's files); while nothing new comes in, the wall-clock trigger records no run and writes no
 * model; /metrics counts lifecycle events.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EMBEDDED_MODELS_SUBDIR, HISTORY_FILE } from '../../src/model-store/history-store.ts';
import { getJson, type ServiceProcess, startServiceProcess, waitFor } from '../helpers/service-process.ts';

interface RunsBody {
  runs: Array<{ run_id: string; previous_run_id: string | null; computed_at: string | null; vms: { k: number; changes: Record<string, number> } }>;
}

async function whenReady(service: ServiceProcess): Promise<void> {
  await waitFor(async () => ((await getJson(`${service.url}/readyz`)).status === 200 ? true : undefined), 120_000, 'the service to be ready');
}

const number = (runId: string): number => Number(runId.slice('run-'.length));

/** A demo's runs (newest first, as /v1/runs lists them) are its own: numbered from 1, event time never going back. */
function expectOwnReplay(body: RunsBody): void {
  expect(body.runs.length).toBeGreaterThan(1);
  expect(body.runs.map((r) => number(r.run_id))).toEqual(body.runs.map((_, i) => body.runs.length - i));
  expect(body.runs.at(-1)!.previous_run_id).toBeNull();
  const times = body.runs.map((r) => Date.parse(r.computed_at ?? '')).reverse();
  expect(times.every((t, i) => i === 0 || t > times[i - 1]!)).toBe(true);
}

describe('embedded demo restart', () => {
  it('starts a clean history of its own each time, and records no run while nothing new comes in', async () => {
    const modelsDir = await mkdtemp(join(tmpdir(), 'restart-models-'));
    const demoDir = join(modelsDir, EMBEDDED_MODELS_SUBDIR);
    const env = { MODELS_DIR: modelsDir, STATE_DIR: await mkdtemp(join(tmpdir(), 'restart-state-')), RECLUSTER_WALLCLOCK_SECONDS: '1' };

    const first = await startServiceProcess(env);
    let before: RunsBody;
    try {
      await whenReady(first);
      before = (await getJson<RunsBody>(`${first.url}/v1/runs`)).body;
      expectOwnReplay(before);
      const metrics = await (await fetch(`${first.url}/metrics`)).text();
      const born = before.runs.reduce((n, r) => n + (r.vms.changes.born ?? 0), 0);
      const moved = before.runs.reduce((n, r) => n + (r.vms.changes.moved ?? 0), 0);
      expect(metrics).toContain(`alcor_cluster_events_total{side="vm",event="born"} ${born}`);
      expect(metrics).toContain(`alcor_cluster_moves_total{side="vm"} ${moved}`);
      expect(metrics).toContain(`alcor_clusters{side="vm"} ${before.runs[0]!.vms.k}`);

      // The trace is all in: the wall-clock trigger fires every second, but a run would see nothing new.
      const files = (await readdir(demoDir)).sort();
      expect(files.filter((f) => f.startsWith('model-')).length).toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 3500));
      expect((await getJson<RunsBody>(`${first.url}/v1/runs`)).body).toEqual(before);
      expect((await readdir(demoDir)).sort()).toEqual(files);
    } finally {
      expect(await first.stop()).toBe(0);
    }

    const second = await startServiceProcess(env);
    try {
      await whenReady(second);
      const after = (await getJson<RunsBody>(`${second.url}/v1/runs`)).body;
      // Not the first process's runs with the replay appended again: its own, ending at the same event time.
      expectOwnReplay(after);
      expect(after.runs[0]!.computed_at).toBe(before.runs[0]!.computed_at);
      const saved = JSON.parse(await readFile(join(demoDir, HISTORY_FILE), 'utf8')) as { runs: Array<{ runId: string }> };
      expect(saved.runs.map((r) => r.runId).reverse()).toEqual(after.runs.map((r) => r.run_id));
      // A Kafka service started over this MODELS_DIR finds no demo history or model to take for its own.
      expect(existsSync(join(modelsDir, HISTORY_FILE))).toBe(false);
      expect((await readdir(modelsDir)).filter((f) => f.startsWith('model-'))).toEqual([]);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 300_000);
});
