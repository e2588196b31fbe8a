/**
 * Members of one scale-out application as real processes (test/topology/): their environment, the
 * offline replay they must agree with, and waiting for a requested run to reach every member.
 */
import { expect } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { replayTrace } from '../../src/replay/replay.ts';
import { uniqueTopic } from './kafka.ts';
import { type Assignments, stats } from './reliability.ts';
import { getJson, type ServiceProcess, waitFor } from './service-process.ts';

/** The environment of every member of a fresh application over the given inputs. */
export function memberEnv(inputs: Record<string, string>, name: string, partitions = 6): Record<string, string> {
  return {
    ...inputs,
    SCALE_OUT_APP_ID: uniqueTopic(name),
    SCALE_OUT_PARTITIONS: String(partitions),
    // Short, so that a dead member's partitions move within seconds; not the broker's 6 s floor, which a
    // loaded 2-core machine running four members misses now and then (a needless rebalance).
    SCALE_OUT_SESSION_TIMEOUT_MS: '10000',
    LOG_LEVEL: 'info',
  };
}

/** The offline replay's final run of the small fixture: assignments and every VM's features. */
export async function replayReference(): Promise<{ vmClusters: Record<string, string>; tenantClusters: Record<string, string>; features: Record<string, Record<string, number>> }> {
  const defaults = PipelineOptions.parse({});
  const { lastRun } = await replayTrace('fixtures/small.jsonl.gz', { pipeline: toPipelineConfig(defaults), run: toRunOptions(defaults) });
  if (lastRun === null) throw new Error('the replay made no run');
  const vmClusters: Record<string, string> = {};
  const features: Record<string, Record<string, number>> = {};
  const m = lastRun.vms.features;
  lastRun.vms.ids.forEach((id, i) => {
    vmClusters[id] = lastRun.vms.clusterIds[i]!;
    const row: Record<string, number> = {};
    for (let c = 0; c < m.cols; c++) {
      const v = m.data[i * m.cols + c]!;
      if (Number.isFinite(v)) row[m.names[c]!] = v;
    }
    features[id] = row;
  });
  const tenantClusters: Record<string, string> = {};
  lastRun.tenants.ids.forEach((id, i) => {
    tenantClusters[id] = lastRun.tenants.clusterIds[i]!;
  });
  return { vmClusters, tenantClusters, features };
}

/**
 * A searching run requested from one member; resolves once every member serves that run. On the leader a
 * request while a run is in flight answers with that run (`started: false`), as one process does: it asks
 * again once that run is served.
 */
export async function requestedRun(members: ServiceProcess[], timeoutMs = 120_000): Promise<Assignments[]> {
  const before = (await stats(members[0]!.url)).latest_run_id;
  for (;;) {
    const res = await fetch(`${members[0]!.url}/v1/recluster`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ search: true }),
    });
    expect(res.status).toBe(202);
    const { run_id, started } = (await res.json()) as { run_id: string; started: boolean };
    if (started) break;
    await waitFor(async () => ((await stats(members[0]!.url)).latest_run_id === run_id ? true : undefined), timeoutMs, `the run in flight (${run_id})`);
  }
  const runId = await waitFor(
    async () => {
      const { body } = await getJson<{ runs: Array<{ run_id: string; reason: string }> }>(`${members[0]!.url}/v1/runs`);
      const newest = body.runs[0];
      return newest !== undefined && newest.reason === 'request' && newest.run_id !== before ? newest.run_id : undefined;
    },
    timeoutMs,
    'the requested run',
  );
  await waitFor(async () => ((await Promise.all(members.map(async (m) => (await stats(m.url)).latest_run_id === runId))).every(Boolean) ? true : undefined), timeoutMs, `${runId} on every member`);
  return Promise.all(members.map(async (m) => (await getJson<Assignments>(`${m.url}/v1/assignments`)).body));
}
