/**
 * Members of one scale-out application as real processes (test/topology/): their environment, the
 * offline replay they must agree with, and waiting for a requested run to reach every member.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
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
 * A searching run requested from one member, once every member serves it as its latest run: their
 * assignments. On the leader a request while a run is in flight answers with that run (`started: false`), as
 * one process does; and a tick that was pending when the request came may run after it, on less data. Either
 * way it asks again, until the requested run is the latest everywhere.
 */
export async function requestedRun(members: ServiceProcess[], timeoutMs = 120_000): Promise<Assignments[]> {
  const first = members[0]!.url;
  const deadline = Date.now() + timeoutMs;
  const left = (): number => Math.max(1, deadline - Date.now());
  const runNumber = (id: string | null): number => (id === null ? 0 : Number(id.replace(/^run-/, '')));
  let before = (await stats(first)).latest_run_id;
  for (;;) {
    const res = await fetch(`${first}/v1/recluster`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ search: true }),
    });
    expect(res.status).toBe(202);
    const { run_id, started } = (await res.json()) as { run_id: string; started: boolean };
    if (!started) {
      await waitFor(async () => (runNumber((await stats(first)).latest_run_id) >= runNumber(run_id) ? true : undefined), left(), `the run in flight (${run_id})`);
      continue;
    }
    const runId = await waitFor(
      async () => {
        const { body } = await getJson<{ runs: Array<{ run_id: string; reason: string }> }>(`${first}/v1/runs`);
        const asked = body.runs.find((r) => r.reason === 'request' && runNumber(r.run_id) > runNumber(before));
        return asked?.run_id;
      },
      left(),
      'the requested run',
    );
    const latest = await waitFor(
      async () => {
        const ids = await Promise.all(members.map(async (m) => (await stats(m.url)).latest_run_id));
        return ids.every((id) => runNumber(id) >= runNumber(runId)) ? ids : undefined;
      },
      left(),
      `${runId} on every member`,
    );
    const served = await Promise.all(members.map(async (m) => (await getJson<Assignments>(`${m.url}/v1/assignments`)).body));
    if (latest.every((id) => id === runId) && served.every((a) => a.run_id === runId)) return served;
    before = runId;
  }
}

/** Every member's whole log, for whoever reads a failure: test-output/scale-out/<test>-member-<i>.log. */
export function keepLogs(test: string, members: () => ServiceProcess[]): void {
  mkdirSync('test-output/scale-out', { recursive: true });
  for (const [i, m] of members().entries()) writeFileSync(`test-output/scale-out/${test}-member-${i}.log`, m.output());
}

/** A gauge's value from a member's /metrics (NaN when it is missing). */
export async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}
