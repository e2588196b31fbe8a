/** Attribution in the pipeline: every decoded flow passes the address map before the fleet state. */
import { describe, expect, it } from 'vitest';
import type { RejectedRecord } from '../../src/contract/rejections.ts';
import { defaultPipelineConfig, Pipeline } from '../../src/pipeline/pipeline.ts';

const T = Date.UTC(2026, 10, 1);
const vm = (ts: number, id: string, ip: string, vpc: string, vni: number, state = 'active') =>
  JSON.stringify({ ts, vm_id: id, tenant_id: 't', vpc_id: vpc, ip, segmentation_id: vni, state });
const flow = (ts: number, src: string, dst: string, vni: number | null) =>
  JSON.stringify({ ts, src_ip: src, dst_ip: dst, vni, src_port: 40000, dst_port: 443, protocol: 'tcp', bytes: 100, packets: 1 });

describe('pipeline attribution', () => {
  it('turns address-only flows into VM-to-VM flows per VPC, and rejects as missing_vm a flow of which no end is found', () => {
    const rejected: RejectedRecord[] = [];
    const p = new Pipeline(defaultPipelineConfig, (r) => rejected.push(r));
    const { vmAttributes: attrs, flows } = defaultPipelineConfig.topics;
    p.ingestMessage(attrs, `[${vm(T, 'a1', '10.0.0.1', 'A', 100)},${vm(T, 'a2', '10.0.0.2', 'A', 100)},${vm(T, 'b1', '10.0.0.1', 'B', 200)}]`, 'x');
    p.ingestMessage(flows, flow(T + 60_000, '10.0.0.1', '10.0.0.2', 100), 'x');
    p.ingestMessage(flows, flow(T + 60_000, '10.0.0.1', '203.0.113.9', 200), 'x');
    p.ingestMessage(flows, flow(T + 60_000, '10.0.0.1', '10.0.0.2', null), 'x');
    p.ingestMessage(flows, flow(T + 60_000, '203.0.113.9', '10.0.0.7', 100), 'x');

    expect(p.fleet.pairs.size).toBe(1);
    expect([...p.fleet.vms.keys()].sort()).toEqual(['a1', 'a2', 'b1']);
    expect(p.fleet.counters.flowsApplied).toBe(3);
    expect(rejected.map((r) => [r.reason, r.field])).toEqual([['missing_vm', 'src_vm']]);
    expect(p.addresses.counters).toMatchObject({
      endsByAddress: 4,
      unattributed: { unknown_address: 3, ambiguous_no_vni: 1, conflicting_claims: 0 },
    });
  });
});
