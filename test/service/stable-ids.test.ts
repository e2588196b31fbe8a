/**
 * Stable cluster ids through the service: reruns on unchanged data, restarts from a persisted model, and
 * model files that cannot be used.
 */
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { FileModelStore, loadLatestModel } from '../../src/model-store/model-store.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import type { ClusteringRun } from '../../src/runs/clustering-run.ts';
import { MODEL_SCHEMA, MODEL_VERSION, type ModelDocument, parseModelDocument } from '../../src/runs/model-document.ts';
import { ClusterService, type ClusterServiceOptions } from '../../src/service/cluster-service.ts';
import { InlineClusterer } from '../../src/service/clusterer.ts';
import { readTraceChunks } from '../../src/trace/trace-reader.ts';

const opts = PipelineOptions.parse({ reclusterMinutes: 0 });
const lines: string[] = [];

beforeAll(async () => {
  for await (const c of readTraceChunks('fixtures/small.jsonl.gz')) for (const l of c.lines) if (l) lines.push(l);
});

function serviceWith(options: ClusterServiceOptions = {}): ClusterService {
  const service = new ClusterService(new Pipeline(toPipelineConfig(opts)), new InlineClusterer(), toRunOptions(opts), Date.now, options);
  for (const l of lines) service.ingestTraceLine(l, 'x');
  return service;
}

async function rerun(service: ClusterService): Promise<ClusteringRun> {
  service.requestRecluster();
  await service.whenIdle();
  return service.latestRun()!;
}

const tempDir = () => mkdtemp(join(tmpdir(), 'models-test-'));

describe('stable ids in the service', () => {
  it('changes no id when the data has not changed', async () => {
    const service = serviceWith();
    const first = await rerun(service);
    const second = await rerun(service);
    expect(second.runId).not.toBe(first.runId);
    expect(second.vms.clusterIds).toEqual(first.vms.clusterIds);
    expect(second.tenants.clusterIds).toEqual(first.tenants.clusterIds);
    const [r1, r2] = service.runHistory();
    expect(r1!.changes.previousRunId).toBeNull();
    expect(r1!.changes.vms.events.every((e) => e.type === 'born')).toBe(true);
    expect(r2!.changes).toEqual({ runId: second.runId, previousRunId: first.runId, vms: { events: [], moved: [] }, tenants: { events: [], moved: [] } });
  }, 60_000);

  it('keeps the history bounded', async () => {
    const service = serviceWith({ historySize: 2 });
    for (let i = 0; i < 3; i++) await rerun(service);
    expect(service.runHistory().map((r) => r.runId)).toEqual(['run-000002', 'run-000003']);
  }, 60_000);
});

describe('persisted models', () => {
  it('writes a versioned model per run, keeps the latest few, and a restart keeps every id', async () => {
    const dir = await tempDir();
    const before = serviceWith({ models: new FileModelStore(dir, 2) });
    for (let i = 0; i < 3; i++) await rerun(before);
    const original = before.latestRun()!;
    expect((await readdir(dir)).sort()).toEqual(['model-00000002.json', 'model-00000003.json']);

    const loaded = await loadLatestModel(dir);
    expect(loaded.status).toBe('loaded');
    if (loaded.status !== 'loaded') return;
    const model = loaded.model;
    expect(model).toMatchObject({ schema: MODEL_SCHEMA, version: MODEL_VERSION, run_id: 'run-000003', identity: { next_vm: original.vms.outcome.k } });
    expect(model.vms.clusters.map((c) => c.cluster_id)).toEqual(original.vms.labelIds);
    expect(model.vms.scaler.means).toHaveLength(45);

    // A new process: same data, the model loaded. Before its first run it serves the model's placement.
    const after = serviceWith({ models: new FileModelStore(dir, 2), model });
    const provisional = after.latestRun()!;
    expect(provisional.runId).toBe('provisional-run-000003');
    expect(provisional.vms.clusterIds).toEqual(original.vms.clusterIds);
    expect(provisional.tenants.clusterIds).toEqual(original.tenants.clusterIds);
    // Its first run matches against that placement: no id changes, and the counter carries on.
    const first = await rerun(after);
    expect(first.vms.clusterIds).toEqual(original.vms.clusterIds);
    expect(first.tenants.clusterIds).toEqual(original.tenants.clusterIds);
    const record = after.runHistory()[0]!;
    expect(record.changes.previousRunId).toBe('provisional-run-000003');
    expect(record.changes.vms).toEqual({ events: [], moved: [] });
    // Sequence numbers continue past the files already there.
    expect((await readdir(dir)).sort()).toEqual(['model-00000003.json', 'model-00000004.json']);
    const written = JSON.parse(await readFile(join(dir, 'model-00000004.json'), 'utf8')) as ModelDocument;
    expect(written.identity).toEqual(model.identity);
  }, 120_000);

  it('reports a corrupt or incompatible model instead of failing, and the service starts fresh', async () => {
    const dir = await tempDir();
    const store = new FileModelStore(dir);
    const service = serviceWith({ models: store });
    await rerun(service);
    const good = JSON.parse(await readFile(join(dir, 'model-00000001.json'), 'utf8')) as ModelDocument;

    const cases: Array<[string, string, RegExp]> = [
      ['truncated', JSON.stringify(good).slice(0, 200), /not JSON/],
      ['another version', JSON.stringify({ ...good, version: MODEL_VERSION + 1 }), /version 2, this service reads version 1/],
      ['other features', JSON.stringify({ ...good, vms: { ...good.vms, feature_names: good.vms.feature_names.map((n, i) => (i === 3 ? 'renamed' : n)) } }), /incompatible model/],
      ['inconsistent', JSON.stringify({ ...good, vms: { ...good.vms, scaler: { ...good.vms.scaler, means: [1, 2] } } }), /scaler\.means has 2 values/],
      ['not a model', '{"hello": "world"}', /not a model document/],
    ];
    for (const [what, text, error] of cases) {
      expect(parseModelDocument(text), what).toEqual({ ok: false, error: expect.stringMatching(error) });
      await writeFile(join(dir, 'model-99999999.json'), text);
      const loaded = await loadLatestModel(dir);
      expect(loaded, what).toEqual({ status: 'invalid', path: join(dir, 'model-99999999.json'), error: expect.stringMatching(error) });
    }
    expect(await loadLatestModel(join(dir, 'absent'))).toEqual({ status: 'none' });

    // Fresh start: no provisional run, ids from 0 again.
    const fresh = serviceWith({ models: store, model: null });
    expect(fresh.latestRun()).toBeNull();
    const run = await rerun(fresh);
    expect(run.vms.labelIds[0]).toBe('vm-0');
  }, 120_000);
});
