/**
 * An instance that holds only part of a fleet (some partitions of some topics) still completes its runs:
 * its first run used to stop with "tenant features have no vm_cluster_0_vm_share column" when it held no
 * live VM, and it served no run (503) from then on. Replayed here through the service's own core.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { replayTrace } from '../../src/replay/replay.ts';

const defaults = PipelineOptions.parse({});
const options = { pipeline: toPipelineConfig(defaults), run: toRunOptions(defaults) };
const T0 = Date.UTC(2026, 10, 1);
const MIN = 60_000;

function trace(messages: Array<{ topic: string; value: object }>): string {
  const dir = mkdtempSync(join(tmpdir(), 'partial-fleet-'));
  const path = join(dir, 'trace.jsonl');
  writeFileSync(path, `${messages.map((m) => JSON.stringify(m)).join('\n')}\n`);
  return path;
}

describe('replay of a partial fleet', () => {
  it('completes its final run with tenant attributes but no VM, and publishes an empty result', async () => {
    const path = trace([
      { topic: 'tenant-attributes', value: { ts: T0, tenant_id: 'acme', name: 'Acme' } },
      { topic: 'tenant-attributes', value: { ts: T0 + 20 * MIN, tenant_id: 'globex' } },
      { topic: 'tenant-attributes', value: { ts: T0 + 40 * MIN, tenant_id: 'initech' } },
    ]);
    const { result, runs, history } = await replayTrace(path, options);
    expect(runs).toBe(1);
    expect(history.map((r) => r.reason)).toEqual(['final']);
    expect(result.vm_clusters).toEqual({});
    expect(result.tenant_clusters).toEqual({});
    expect(result.run?.vms.quality.k).toBe(0);
    expect(result.run?.tenants.quality.k).toBe(0);
    // Tenant attributes do not move event time: the run describes no window yet.
    expect(result.run?.computed_at).toBeNull();
  });

  // The last flow sits on a tick: the scheduled run there sees all input, so the final run has nothing new and is
  // not recorded (issue 16 item 3).
  it('runs on schedule when every VM it held was deleted while its flows still come', async () => {
    const flow = (ts: number) => ({
      topic: 'overlay-flows',
      value: { ts, src_vm: 'vm-a', src_ip: '10.0.0.1', dst_ip: '10.0.0.2', src_port: 40_000, dst_port: 443, protocol: 'tcp', bytes: 1000, packets: 10 },
    });
    const path = trace([
      flow(T0),
      { topic: 'vm-attributes', value: { ts: T0 + 1 * MIN, vm_id: 'vm-a', tenant_id: 'acme', state: 'deleted' } },
      flow(T0 + 10 * MIN),
      flow(T0 + 20 * MIN),
    ]);
    const { result, runs, history } = await replayTrace(path, options);
    expect(runs).toBe(2);
    expect(history.map((r) => [r.runId, r.reason, r.computedAt, r.vms.count])).toEqual([
      ['run-000001', 'schedule', T0 + 10 * MIN, 0],
      ['run-000002', 'schedule', T0 + 20 * MIN, 0],
    ]);
    expect(result.vm_clusters).toEqual({});
    expect(result.stats.flows_for_deleted_vms).toBe(2);
    expect(result.run?.computed_at).toBe(new Date(T0 + 20 * MIN).toISOString());
  });
});
