/**
 * What an operator reads must agree: the service on the bundled trace with MAX_VMS=100 (the issue's
 * `--max-vms 100`) counts tenants and records turned away exactly as the offline replay does, in /v1/stats,
 * /metrics and /v1/runs alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { type ReplayOutcome, replayTrace } from '../../src/replay/replay.ts';
import { getJson, type ServiceProcess, startServiceProcess, waitFor } from '../helpers/service-process.ts';

interface Stats {
  records: { flows: number; vm_attributes: number; tenant_attributes: number };
  rejected: { count: number; by_reason: Record<string, number> };
  tenants_tracked: number;
  vms_tracked: number;
  latest_run_id: string | null;
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no ${name} in /metrics`);
  return Number(line.slice(name.length + 1));
}

describe('the service on the bundled trace with MAX_VMS=100', () => {
  let service: ServiceProcess;
  let replay: ReplayOutcome;
  beforeAll(async () => {
    service = await startServiceProcess({ MAX_VMS: '100', RECLUSTER_WALLCLOCK_SECONDS: '0' });
    const options = PipelineOptions.parse({ maxVms: '100' });
    replay = await replayTrace('fixtures/small.jsonl.gz', { pipeline: toPipelineConfig(options), run: toRunOptions(options) });
    await waitFor(async () => ((await fetch(`${service.url}/readyz`)).ok ? true : undefined), 60_000, 'ready');
  }, 120_000);
  afterAll(async () => {
    expect(await service.stop()).toBe(0);
  });

  it('counts the flows and attributes of VMs turned away by the cap as vm_cap rejections, everywhere', async () => {
    const r = replay.result;
    // Every decoded record is applied, superseded or rejected after decoding (too_late, vm_cap): nothing else.
    const s = r.stats;
    const decoded = s.flow_records! + s.vm_attribute_records! + s.tenant_attribute_records!;
    const applied = s.flows_applied! + s.vm_attributes_applied! + s.tenant_attributes_applied!;
    const superseded = s.flows_for_deleted_vms! + s.vm_attributes_stale! + s.vm_attributes_expired! + s.tenant_attributes_stale!;
    expect(s.flows_applied).toBe(19_688);
    expect(r.rejected.by_reason.vm_cap).toBe(53_362);
    expect(applied + superseded + r.rejected.by_reason.too_late! + r.rejected.by_reason.vm_cap!).toBe(decoded);

    const { body: stats } = await getJson<Stats>(`${service.url}/v1/stats`);
    expect(stats.rejected).toEqual(r.rejected);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metric(metrics, 'alcor_records_rejected_total{reason="vm_cap"}')).toBe(53_362);
    expect(metric(metrics, 'alcor_fleet_events_total{event="flows_refused"}')).toBe(s.flow_records! - s.flows_applied! - r.rejected.by_reason.too_late!);
  });

  it('counts the same tenants in /v1/stats, alcor_tenants_tracked, /v1/runs and the replay', async () => {
    const { body: stats } = await getJson<Stats>(`${service.url}/v1/stats`);
    const { body: runs } = await getJson<{ runs: Array<{ run_id: string; tenants: { count: number } }> }>(`${service.url}/v1/runs`);
    const latest = runs.runs.find((run) => run.run_id === stats.latest_run_id);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(replay.result.stats.tenants_live).toBe(36);
    expect({
      stats: stats.tenants_tracked,
      metric: metric(metrics, 'alcor_tenants_tracked'),
      run: latest?.tenants.count,
      clustered: Object.keys(replay.result.tenant_clusters).length,
    }).toEqual({ stats: 36, metric: 36, run: 36, clustered: 36 });
  });
});
