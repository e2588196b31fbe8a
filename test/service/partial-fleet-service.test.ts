/**
 * The live service on a partial fleet: an instance whose flows all belong to VMs deleted since (its
 * partitions hold no live VM) used to fail every run in its worker thread and answer 503 on
 * /v1/assignments for good. Its runs now complete and it serves their (empty) result.
 */
import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { ClusterService } from '../../src/service/cluster-service.ts';
import { WorkerClusterer } from '../../src/service/clusterer.ts';
import { appFor, getJson } from '../http/helpers.ts';

const T0 = Date.UTC(2026, 10, 1);
const MIN = 60_000;
const opts = PipelineOptions.parse({});

const flow = (ts: number) =>
  JSON.stringify({ ts, src_vm: 'vm-a', src_ip: '10.0.0.1', dst_ip: '10.0.0.2', src_port: 40_000, dst_port: 443, protocol: 'tcp', bytes: 1000, packets: 10 });

describe('ClusterService on a partial fleet', () => {
  it('completes its scheduled run in the worker thread with no live VM and serves it', async () => {
    const service = new ClusterService(new Pipeline(toPipelineConfig(opts)), new WorkerClusterer(), toRunOptions(opts));
    const failures: string[] = [];
    service.on('runFailed', (_, err) => failures.push(err.message));
    service.ingestMessage('overlay-flows', flow(T0), 'p0@0');
    service.ingestMessage('vm-attributes', JSON.stringify({ ts: T0 + MIN, vm_id: 'vm-a', tenant_id: 'acme', state: 'deleted' }), 'p0@1');
    service.ingestMessage('tenant-attributes', JSON.stringify({ ts: T0 + MIN, tenant_id: 'acme', name: 'Acme' }), 'p0@2');
    // Event time passes the next five-minute tick: a run is due, over a fleet with no live VM.
    service.ingestMessage('overlay-flows', flow(T0 + 10 * MIN), 'p0@3');
    expect(service.runInProgress()?.reason).toBe('schedule');
    await service.whenIdle();
    expect(failures).toEqual([]);
    expect(service.firstRunCompleted()).toBe(true);
    const run = service.latestRun()!;
    expect([run.runId, run.vms.ids.length, run.vms.outcome.k, run.tenants.outcome.k]).toEqual(['run-000001', 0, 0, 0]);

    const { app } = appFor(service);
    const assignments = await getJson(app, '/v1/assignments');
    expect(assignments.status).toBe(200);
    expect(assignments.body).toMatchObject({ run_id: 'run-000001', vm_clusters: {}, tenant_clusters: {} });
    const tenants = await getJson<{ quality: { k: number }; clusters: unknown[] }>(app, '/v1/clusters/tenants');
    expect([tenants.status, tenants.body.quality.k, tenants.body.clusters]).toEqual([200, 0, []]);
    await app.close();
    await service.close();
  }, 30_000);
});
