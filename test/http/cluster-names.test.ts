/** Tenant clusters carry their suggested names on the REST API, like VM clusters. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusteringRun } from '../../src/runs/clustering-run.ts';
import { appFor, getJson, replaySmall, type TestApp } from './helpers.ts';

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

interface Clusters {
  clusters: Array<{ cluster_id: string; name?: string }>;
}

describe('cluster names on the REST API', () => {
  it('names every tenant cluster in GET /v1/clusters/tenants and GET /v1/clusters/tenants/{id}', async () => {
    const { status, body } = await getJson<Clusters>(test.app, '/v1/clusters/tenants');
    expect(status).toBe(200);
    const expected = run.tenants.outcome.clusters.map((c) => ({ cluster_id: run.tenants.labelIds[c.index], name: run.tenantClusterNames![c.index] }));
    expect(body.clusters.map((c) => ({ cluster_id: c.cluster_id, name: c.name }))).toEqual(expected);
    expect(expected.find((c) => c.cluster_id === 'tenant-3')?.name).toBe('small, heavy traffic, internal, mostly peer-to-peer VMs');
    const one = await getJson<{ cluster_id: string; name?: string }>(test.app, '/v1/clusters/tenants/tenant-3');
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ cluster_id: 'tenant-3', name: 'small, heavy traffic, internal, mostly peer-to-peer VMs' });
  });
});
