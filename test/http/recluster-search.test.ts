/** POST /v1/recluster {"search": true} and the search record of GET /v1/runs (issue 11, warm runs). */
import { afterEach, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/runs/history.ts';
import type { ReclusterOptions, ServiceView } from '../../src/service/types.ts';
import { appFor, getJson } from './helpers.ts';

const noChanges = { events: [], moved: [] };

const record: RunRecord = {
  runId: 'run-000002',
  computedAt: 1_700_000_000_000,
  durationMs: 12.5,
  reason: 'schedule',
  vms: {
    count: 10,
    k: 3,
    silhouette: 0.5,
    inertia: 4,
    noise: 0,
    search: {
      searched: false,
      reason: 'no-drift',
      runsSinceSearch: 1,
      referenceUnexplained: 0.125,
      drift: { unexplained: 0.13, moved: 0.1, newRows: 0, lostClusters: 0 },
    },
  },
  tenants: { count: 2, k: 1, silhouette: null, inertia: null, noise: 0 },
  changes: { runId: 'run-000002', previousRunId: 'run-000001', vms: noChanges, tenants: noChanges },
};

function view(asked: ReclusterOptions[]): ServiceView {
  return {
    latestRun: () => null,
    runInProgress: () => null,
    vm: () => null,
    tenant: () => null,
    requestRecluster: (options) => {
      asked.push(options ?? {});
      return { runId: 'run-000003', started: true };
    },
    ingestStats: () => ({
      messages: 0,
      records: { flows: 0, vmAttributes: 0, tenantAttributes: 0 },
      rejected: { count: 0, by_reason: {} },
      watermark: null,
      vmsTracked: 0,
      tenantsTracked: 0,
    }),
    inputsReady: () => true,
    firstRunCompleted: () => true,
    runHistory: () => [record],
  };
}

const apps: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

describe('POST /v1/recluster', () => {
  it('forces a search with {"search": true}, and only then', async () => {
    const asked: ReclusterOptions[] = [];
    const { app } = appFor(view(asked));
    apps.push(app);
    const post = (payload?: string, type = 'application/json') =>
      app.inject({ method: 'POST', url: '/v1/recluster', ...(payload === undefined ? {} : { payload, headers: { 'content-type': type } }) });
    expect((await post()).statusCode).toBe(202);
    expect((await post('{"search": true}')).json()).toEqual({ run_id: 'run-000003', started: true });
    expect((await post('{"search": false}')).statusCode).toBe(202);
    expect((await post('{"other": 1}')).statusCode).toBe(202);
    expect((await post('please', 'text/plain')).statusCode).toBe(202);
    expect(asked).toEqual([{ search: false }, { search: true }, { search: false }, { search: false }, { search: false }]);
    const bad = await post('{"search": "yes"}');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({ error: 'bad_request', message: 'search: must be true or false' });
    expect(asked).toHaveLength(5);
  });
});

describe('GET /v1/runs', () => {
  it("gives each side's search record, null where the run has none", async () => {
    const { app } = appFor(view([]));
    apps.push(app);
    const { status, body } = await getJson<{ runs: Array<Record<string, { search: unknown }>> }>(app, '/v1/runs');
    expect(status).toBe(200);
    expect(body.runs[0]!.vms!.search).toEqual({
      searched: false,
      reason: 'no-drift',
      runs_since_search: 1,
      reference_unexplained: 0.125,
      drift: { unexplained: 0.13, moved: 0.1, new_rows: 0, lost_clusters: 0 },
    });
    expect(body.runs[0]!.tenants!.search).toBeNull();
  });
});
