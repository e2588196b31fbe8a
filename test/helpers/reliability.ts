/**
 * Shared steps of the fault tests (crash, broker restart, broker down at start): what a service reports
 * it applied, its features per VM, its clusters after a fresh run, and the report file operators read.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { adjustedRandIndex } from '../../src/evaluation/metrics.ts';
import { getJson, waitFor } from './service-process.ts';

export interface Stats {
  records: { flows: number; vm_attributes: number; tenant_attributes: number };
  rejected: { count: number; by_reason: Record<string, number> };
  latest_run_id: string | null;
}

export interface Assignments {
  run_id: string;
  vm_clusters: Record<string, string>;
  tenant_clusters: Record<string, string>;
}

/** The small fixture's valid records by topic (`npm run replay -- fixtures/small.jsonl.gz`). */
export const SMALL_RECORDS = { flows: 70_578, vm_attributes: 3_210, tenant_attributes: 68 };

export async function stats(url: string): Promise<Stats> {
  return (await getJson<Stats>(`${url}/v1/stats`)).body;
}

/** Waits until the service has applied `records` (and fails fast if it applied more: counted twice). */
export async function waitForRecords(url: string, records: Stats['records'], timeoutMs: number): Promise<Stats> {
  return waitFor(
    async () => {
      const s = await stats(url);
      if (s.records.flows > records.flows) throw new Error(`applied ${s.records.flows} flows, more than the ${records.flows} produced`);
      return s.records.flows === records.flows && s.records.vm_attributes === records.vm_attributes && s.records.tenant_attributes === records.tenant_attributes
        ? s
        : undefined;
    },
    timeoutMs,
    `${JSON.stringify(records)} to be applied`,
  );
}

/**
 * A run started now, on the state as it is now, searching k as a replay's final run does: a warm run would
 * depend on the run history, which a broker fault or a restart legitimately changes.
 */
export async function rerun(url: string): Promise<Assignments> {
  for (;;) {
    const res = await fetch(`${url}/v1/recluster`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ search: true }),
    });
    expect(res.status).toBe(202);
    const { run_id, started } = (await res.json()) as { run_id: string; started: boolean };
    await waitFor(async () => ((await stats(url)).latest_run_id === run_id ? true : undefined), 60_000, run_id);
    if (started) return (await getJson<Assignments>(`${url}/v1/assignments`)).body;
  }
}

/** Every VM's current feature values, by VM id. */
export async function featuresOf(url: string, vmIds: string[]): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  for (const id of vmIds) {
    const { status, body } = await getJson<{ features: Record<string, number> | null }>(`${url}/v1/vms/${encodeURIComponent(id)}`);
    expect(status).toBe(200);
    out[id] = body.features ?? {};
  }
  return out;
}

/** Adjusted Rand index of two assignments over the same ids (1: the same clusters up to their names). */
export function agreement(a: Record<string, string>, b: Record<string, string>): number {
  const ids = Object.keys(a).sort();
  expect(Object.keys(b).sort()).toEqual(ids);
  return adjustedRandIndex(
    ids.map((id) => a[id]!),
    ids.map((id) => b[id]!),
  );
}

/** One fault test's figures, in test-output/reliability/<name>.json. */
export async function writeReliabilityReport(name: string, report: Record<string, unknown>): Promise<void> {
  const dir = join('test-output', 'reliability');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${name}.json`), `${JSON.stringify({ test: name, at: new Date().toISOString(), ...report }, null, 2)}\n`);
}
