/**
 * The run history across restarts: persisted in MODELS_DIR after each run, loaded by the next process (GET
 * /v1/runs keeps its runs, run ids continue), bounded, and a file that cannot be used is reported, not fatal.
 * Readiness too: a loaded model's provisional placement is not a first run.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { FileHistoryStore, HISTORY_FILE, loadHistory } from '../../src/model-store/history-store.ts';
import { FileModelStore, loadLatestModel } from '../../src/model-store/model-store.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { fixtureReplay } from '../helpers/fixture-replay.ts';
import { HISTORY_SCHEMA, HISTORY_VERSION, type HistoryDocument, historyDocument, parseHistory, runNumber } from '../../src/runs/history.ts';
import { ClusterService, type ClusterServiceOptions } from '../../src/service/cluster-service.ts';
import { InlineClusterer } from '../../src/service/clusterer.ts';
import { readTraceChunks } from '../../src/trace/trace-reader.ts';
import { appFor, getJson } from '../http/helpers.ts';

const opts = PipelineOptions.parse({ reclusterMinutes: 0 });
const lines: string[] = [];
const apps: Array<{ close(): Promise<unknown> }> = [];

/**
 * The small fixture's first lines (about a quarter: its ~500 VMs and their tenants, and flows enough for runs of
 * every kind): what these tests check is the history's bookkeeping, which does not depend on how much
 * traffic the runs cluster, and each test ingests the lines into one or two services and runs them several
 * times, which with the whole fixture made this one of the suite's longest files.
 */
const LINES = 1000;

beforeAll(async () => {
  for await (const c of readTraceChunks('fixtures/small.jsonl.gz')) for (const l of c.lines) if (l && lines.length < LINES) lines.push(l);
});

afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
});

function serviceWith(options: ClusterServiceOptions = {}): ClusterService {
  const service = new ClusterService(new Pipeline(toPipelineConfig(opts)), new InlineClusterer(), toRunOptions(opts), Date.now, options);
  for (const l of lines) service.ingestTraceLine(l, 'x');
  return service;
}

async function rerun(service: ClusterService): Promise<string> {
  const { runId } = service.requestRecluster();
  await service.whenIdle();
  return runId;
}

function appOf(service: ClusterService) {
  const { app } = appFor(service);
  apps.push(app);
  return app;
}

const tempDir = () => mkdtemp(join(tmpdir(), 'history-test-'));

interface RunsBody {
  runs: Array<{ run_id: string; previous_run_id: string | null; vms: { k: number; changes: Record<string, number> } }>;
}

describe('run history across restarts', () => {
  it('lists the earlier runs after a restart, and the next run id continues the sequence', async () => {
    const dir = await tempDir();
    const before = serviceWith({ historySink: new FileHistoryStore(dir), models: new FileModelStore(dir) });
    expect([await rerun(before), await rerun(before)]).toEqual(['run-000001', 'run-000002']);
    const earlier = await getJson<RunsBody>(appOf(before), '/v1/runs');
    expect(earlier.body.runs.map((r) => r.run_id)).toEqual(['run-000002', 'run-000001']);

    const loaded = await loadHistory(dir);
    expect(loaded.status).toBe('loaded');
    if (loaded.status !== 'loaded') return;
    expect(loaded.path).toBe(join(dir, HISTORY_FILE));
    expect(loaded.history).toMatchObject({ schema: HISTORY_SCHEMA, version: HISTORY_VERSION, last_run_number: 2 });
    expect(loaded.history.runs).toEqual(before.runHistory());

    // A new process over the same folder.
    const model = await loadLatestModel(dir);
    const after = serviceWith({
      historySink: new FileHistoryStore(dir),
      models: new FileModelStore(dir),
      history: loaded.history,
      model: model.status === 'loaded' ? model.model : null,
    });
    const app = appOf(after);
    expect(await getJson<RunsBody>(app, '/v1/runs')).toEqual(earlier);
    expect(await rerun(after)).toBe('run-000003');
    const { body } = await getJson<RunsBody>(app, '/v1/runs');
    expect(body.runs.map((r) => [r.run_id, r.previous_run_id])).toEqual([
      ['run-000003', 'provisional-run-000002'],
      ['run-000002', 'run-000001'],
      ['run-000001', null],
    ]);
    const saved = parseHistory(await readFile(join(dir, HISTORY_FILE), 'utf8'));
    expect(saved.ok && saved.history.runs.map((r) => r.runId)).toEqual(['run-000001', 'run-000002', 'run-000003']);
    expect(saved.ok && saved.history.last_run_number).toBe(3);
  }, 120_000);

  it('keeps the last N runs of a longer history, and numbers after the last run started', async () => {
    const dir = await tempDir();
    const records = serviceWith();
    for (let i = 0; i < 3; i++) await rerun(records);
    // Run 4 started and failed: it left no record, but its number is taken.
    const document = historyDocument(records.runHistory(), 4);
    const service = serviceWith({ historySize: 2, history: document, historySink: new FileHistoryStore(dir) });
    expect(service.runHistory().map((r) => r.runId)).toEqual(['run-000002', 'run-000003']);
    expect(await rerun(service)).toBe('run-000005');
    const saved = parseHistory(await readFile(join(dir, HISTORY_FILE), 'utf8'));
    expect(saved.ok && saved.history.runs.map((r) => r.runId)).toEqual(['run-000003', 'run-000005']);
  }, 120_000);

  it('continues the numbering of a loaded model when there is no history file', async () => {
    const dir = await tempDir();
    const before = serviceWith({ models: new FileModelStore(dir) });
    for (let i = 0; i < 2; i++) await rerun(before);
    const model = await loadLatestModel(dir);
    expect(model.status).toBe('loaded');
    const after = serviceWith({ model: model.status === 'loaded' ? model.model : null });
    expect(await rerun(after)).toBe('run-000003');
  }, 120_000);

  it('writes and reads every field of a history with lifecycle events and moves', async () => {
    const { history } = await fixtureReplay('small');
    expect(history.some((r) => r.changes.vms.moved.length > 0 && r.changes.vms.events.length > 0)).toBe(true);
    const dir = await tempDir();
    await new FileHistoryStore(dir).save(historyDocument(history, 42));
    expect(await loadHistory(dir)).toEqual({ status: 'loaded', path: join(dir, HISTORY_FILE), history: historyDocument(history, 42) });
  }, 120_000);

  it('reports a corrupt or incompatible file with a clear message, and the service starts a fresh history', async () => {
    const dir = await tempDir();
    const service = serviceWith({ historySink: new FileHistoryStore(dir) });
    await rerun(service);
    const good = JSON.parse(await readFile(join(dir, HISTORY_FILE), 'utf8')) as HistoryDocument;
    const path = join(dir, HISTORY_FILE);
    const cases: Array<[string, string, string | RegExp]> = [
      ['truncated', JSON.stringify(good).slice(0, 100), /^not JSON \(/],
      ['another version', JSON.stringify({ ...good, version: 2 }), 'run history version 2, this service reads version 1'],
      ['not a history', '{"schema": "alcor-traffic-clusters/model", "version": 1}', 'not a run history document (schema "alcor-traffic-clusters/run-history" expected)'],
      ['a bad record', JSON.stringify({ ...good, runs: [{ ...good.runs[0], reason: 'whim' }] }), /^malformed run history at runs\.0\.reason: /],
      ['a bad count', JSON.stringify({ ...good, last_run_number: -1 }), /^malformed run history at last_run_number: /],
    ];
    for (const [what, text, error] of cases) {
      await writeFile(path, text);
      expect(await loadHistory(dir), what).toEqual({ status: 'invalid', path, error: typeof error === 'string' ? error : expect.stringMatching(error) });
    }
    expect(await loadHistory(join(dir, 'absent'))).toEqual({ status: 'none' });

    // Fresh: nothing listed, numbering from 1, and the next save replaces the bad file.
    const fresh = serviceWith({ history: null, historySink: new FileHistoryStore(dir) });
    expect(fresh.runHistory()).toEqual([]);
    expect(await rerun(fresh)).toBe('run-000001');
    expect((await loadHistory(dir)).status).toBe('loaded');
  }, 120_000);

  it('does not number runs back when a snapshot older than the history is restored', async () => {
    const earlier = serviceWith();
    for (let i = 0; i < 3; i++) await rerun(earlier);
    const snapshotAfterTwo = { ...earlier.exportState(), runCount: 2, history: earlier.runHistory().slice(0, 2) };
    const service = serviceWith({ history: historyDocument(earlier.runHistory(), 3) });
    service.restoreState(snapshotAfterTwo);
    expect(service.runHistory().map((r) => r.runId)).toEqual(['run-000001', 'run-000002', 'run-000003']);
    expect(await rerun(service)).toBe('run-000004');
  }, 120_000);

  it('reads run numbers from run ids only', () => {
    expect([runNumber('run-000042'), runNumber('run-1234567'), runNumber('provisional-run-000003'), runNumber('run-')]).toEqual([42, 1234567, null, null]);
  });
});

describe('readiness', () => {
  it('is not ready on a provisional placement, says why, and is ready once a real run completes', async () => {
    const dir = await tempDir();
    const before = serviceWith({ models: new FileModelStore(dir) });
    await rerun(before);
    const model = await loadLatestModel(dir);
    if (model.status !== 'loaded') throw new Error('no model');

    const after = serviceWith({ model: model.model });
    const app = appOf(after);
    expect(after.latestRun()?.runId).toBe('provisional-run-000001');
    expect(await getJson(app, '/readyz')).toEqual({
      status: 503,
      body: {
        status: 'not_ready',
        missing: ['inputs', 'first_run'],
        reasons: [
          'the inputs are not connected: the Kafka consumer has not joined its group (or the embedded trace is still loading)',
          "no clustering run has completed yet; serving the loaded model's provisional placement (provisional-run-000001) until then",
        ],
      },
    });
    after.markInputsReady();
    expect(await getJson(app, '/readyz')).toMatchObject({ status: 503, body: { missing: ['first_run'] } });
    expect(after.firstRunCompleted()).toBe(false);
    await rerun(after);
    expect(after.firstRunCompleted()).toBe(true);
    expect(await getJson(app, '/readyz')).toEqual({ status: 200, body: { status: 'ready', missing: [], reasons: [] } });
  }, 120_000);

  it('does not count a restored history as a first run: there are no clusters to serve yet', async () => {
    const records = serviceWith();
    await rerun(records);
    const service = serviceWith({ history: historyDocument(records.runHistory(), 1) });
    service.markInputsReady();
    expect(service.runHistory()).toHaveLength(1);
    expect(await getJson(appOf(service), '/readyz')).toEqual({
      status: 503,
      body: { status: 'not_ready', missing: ['first_run'], reasons: ['no clustering run has completed yet'] },
    });
  }, 120_000);
});
