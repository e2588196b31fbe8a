/** GET /v1/anomalies, /v1/affinity-groups and the explanation fields of /v1/vms/{vm_id} and /v1/clusters. */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusteringRun } from '../../src/runs/clustering-run.ts';
import { affinityAssignments, anomalyList } from '../../src/runs/result.ts';
import type { ServiceView } from '../../src/service/types.ts';
import { appFor, getJson, replaySmall } from './helpers.ts';

interface ErrorBody {
  error: string;
  message: string;
}
interface AnomalyBody {
  run_id: string;
  items: Array<{ vm_id: string; tenant_id: string | null; cluster_id: string; score: number }>;
}
interface GroupList {
  run_id: string;
  group_count: number;
  modularity: number;
  edges: number;
  groups: Array<{ group_id: string; size: number }>;
  next_cursor: string | null;
}
interface GroupPage {
  group_id: string;
  size: number;
  members: Array<{ vm_id: string }>;
  next_cursor: string | null;
}

let run: ClusteringRun;
let view: ServiceView;
let app: FastifyInstance;

beforeAll(async () => {
  ({ run, view } = await replaySmall());
  ({ app } = appFor(view));
  await app.ready();
});

afterAll(async () => {
  await app?.close();
});

describe('GET /v1/anomalies', () => {
  it('answers the 20 most anomalous VMs by default, as the replay result ranks them', async () => {
    const { status, body } = await getJson<AnomalyBody>(app, '/v1/anomalies');
    expect(status).toBe(200);
    expect(body.run_id).toBe(run.runId);
    expect(body.items).toHaveLength(20);
    expect(body.items.map(({ vm_id, score }) => ({ vm_id, score }))).toEqual(anomalyList(run).slice(0, 20));
    const first = body.items[0]!;
    const row = run.vms.ids.indexOf(first.vm_id);
    expect(first.cluster_id).toBe(run.vms.clusterIds[row]);
    expect(first.tenant_id).toBe(run.vmTenants[row]);
  });

  it('takes a limit up to 1000 and rejects anything else', async () => {
    const all = await getJson<AnomalyBody>(app, '/v1/anomalies?limit=1000');
    expect(all.body.items).toHaveLength(run.vms.ids.length);
    for (const q of ['limit=0', 'limit=1001', 'limit=x']) {
      const { status, body } = await getJson<ErrorBody>(app, `/v1/anomalies?${q}`);
      expect(status, q).toBe(400);
      expect(body.error).toBe('bad_request');
    }
  });

  it('is 503 before the first run', async () => {
    const { app: empty } = appFor({ ...view, latestRun: () => null });
    const { status, body } = await getJson<ErrorBody>(empty, '/v1/anomalies');
    expect(status).toBe(503);
    expect(body.error).toBe('no_run');
    await empty.close();
  });
});

describe('GET /v1/affinity-groups', () => {
  it('pages through every group, largest first, and each group through its members', async () => {
    const groups: GroupList['groups'] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/affinity-groups?limit=7${cursor === null ? '' : `&cursor=${cursor}`}`;
      const { status, body } = await getJson<GroupList>(app, url);
      expect(status).toBe(200);
      expect(body.group_count).toBe(run.affinity!.sizes.length);
      groups.push(...body.groups);
      cursor = body.next_cursor;
    } while (cursor !== null);
    expect(groups.map((g) => g.group_id)).toEqual(run.affinity!.sizes.map((_, i) => `g-${i}`));
    expect(groups.map((g) => g.size)).toEqual(run.affinity!.sizes);
    expect(groups.reduce((s, g) => s + g.size, 0)).toBe(run.vms.ids.length);

    const expected = affinityAssignments(run);
    const largest = groups[0]!;
    const members: string[] = [];
    cursor = null;
    do {
      const url: string = `/v1/affinity-groups/${largest.group_id}?limit=3${cursor === null ? '' : `&cursor=${cursor}`}`;
      const { status, body } = await getJson<GroupPage>(app, url);
      expect(status).toBe(200);
      expect(body.size).toBe(largest.size);
      members.push(...body.members.map((m) => m.vm_id));
      cursor = body.next_cursor;
    } while (cursor !== null);
    expect(members).toEqual(Object.keys(expected).filter((id) => expected[id] === largest.group_id).sort());
  });

  it('is 404 for an unknown group, 400 for a malformed cursor, and an empty last page past every group', async () => {
    const unknown = await getJson<ErrorBody>(app, '/v1/affinity-groups/g-99999');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toBe('unknown_group');
    for (const cursor of ['!!!', 'eHl', 'Zy0x=']) {
      const bad = await getJson<ErrorBody>(app, `/v1/affinity-groups?cursor=${cursor}`);
      expect(bad.status, cursor).toBe(400);
      expect(bad.body.error).toBe('bad_cursor');
    }
    // A well-formed cursor naming no group ("xyz") is a position past every group, as the document allows.
    const past = await getJson<{ groups: unknown[]; next_cursor: string | null }>(app, '/v1/affinity-groups?cursor=eHl6');
    expect(past.status).toBe(200);
    expect(past.body.groups).toEqual([]);
    expect(past.body.next_cursor).toBeNull();
  });

  it('is 404 no_affinity for a run that carries no groups', async () => {
    const bare: ClusteringRun = { ...run, affinity: undefined };
    const { app: other } = appFor({ ...view, latestRun: () => bare });
    const { status, body } = await getJson<ErrorBody>(other, '/v1/affinity-groups');
    expect(status).toBe(404);
    expect(body.error).toBe('no_affinity');
    await other.close();
  });
});

describe('explanations in the VM and cluster answers', () => {
  it('gives a VM its distance, next cluster, confidence, anomaly score and affinity group', async () => {
    const row = run.vms.ids.findIndex((_, i) => run.vmExplanations!.nextLabel[i]! >= 0);
    const id = run.vms.ids[row]!;
    const { status, body } = await getJson<Record<string, unknown>>(app, `/v1/vms/${encodeURIComponent(id)}`);
    expect(status).toBe(200);
    expect(body.distance).toBeCloseTo(run.vmExplanations!.distance[row]!, 3);
    expect(body.confidence).toBeGreaterThanOrEqual(0);
    expect(body.confidence).toBeLessThanOrEqual(1);
    expect(body.next_cluster_id).toMatch(/^vm-/);
    expect(body.next_cluster_id).not.toBe(body.cluster_id);
    expect(body.anomaly_score).toBe(anomalyList(run).find((a) => a.vm_id === id)!.score);
    expect(body.affinity_group).toBe(affinityAssignments(run)[id]);
  });

  it('names every VM cluster', async () => {
    const { body } = await getJson<{ clusters: Array<{ cluster_id: string; name?: string }> }>(app, '/v1/clusters/vms');
    expect(body.clusters.length).toBeGreaterThan(1);
    for (const c of body.clusters) expect(c.name, c.cluster_id).toMatch(/\w/);
    const one = await getJson<{ name?: string }>(app, `/v1/clusters/vms/${body.clusters[0]!.cluster_id}`);
    expect(one.body.name).toBe(body.clusters[0]!.name);
  });
});
