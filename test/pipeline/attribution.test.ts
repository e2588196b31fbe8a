/** Attribution in the pipeline: every decoded flow passes the address map before the fleet state. */
import { describe, expect, it } from 'vitest';
import type { RejectedRecord } from '../../src/contract/rejections.ts';
import { defaultPipelineConfig, Pipeline, type PipelineConfig } from '../../src/pipeline/pipeline.ts';

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
    // 10.0.0.7 is private in a segment the attributes name: held for attributes that may still come.
    expect([p.held.size, rejected.length]).toEqual([1, 0]);
    p.releaseHeld();

    expect(p.fleet.pairs.size).toBe(1);
    expect([...p.fleet.vms.keys()].sort()).toEqual(['a1', 'a2', 'b1']);
    expect(p.fleet.counters.flowsApplied).toBe(3);
    expect(rejected.map((r) => [r.reason, r.field])).toEqual([['missing_vm', 'src_vm']]);
    expect(p.addresses.counters).toMatchObject({
      endsByAddress: 4,
      unattributed: { unknown_address: 3, ambiguous_no_vni: 1, conflicting_claims: 0 },
    });
  });

  describe('late VM attributes, within the allowed lateness (5 min)', () => {
    const L = defaultPipelineConfig.window.allowedLatenessMs;
    const { vmAttributes: attrs, flows } = defaultPipelineConfig.topics;
    /** a1 is known from T; a2's attributes (from T too) come after the flows that need them. */
    function pipeline(config: PipelineConfig = defaultPipelineConfig): { p: Pipeline; rejected: RejectedRecord[] } {
      const rejected: RejectedRecord[] = [];
      const p = new Pipeline(config, (r) => rejected.push(r));
      p.ingestMessage(attrs, vm(T, 'a1', '10.0.0.1', 'A', 100), 'x');
      p.ingestMessage(flows, flow(T + 60_000, '10.0.0.1', '10.0.0.2', 100), 'x');
      return { p, rejected };
    }

    it('holds a flow whose end no claim covers yet and attributes it when the claim arrives', () => {
      const { p, rejected } = pipeline();
      expect([p.held.size, p.fleet.counters.flowsApplied, p.recordsIn.flows]).toEqual([1, 0, 0]);
      // Traffic moves the watermark to exactly the held flow's time + the lateness: still in time.
      p.ingestMessage(flows, flow(T + 60_000 + L, '10.0.0.1', '203.0.113.9', 100), 'x');
      expect(p.held.size).toBe(1);
      p.ingestMessage(attrs, vm(T, 'a2', '10.0.0.2', 'A', 100), 'x');

      expect(p.held.size).toBe(0);
      expect(p.fleet.pairs.size).toBe(1);
      expect([p.fleet.counters.flowsApplied, p.recordsIn.flows, rejected.length]).toEqual([2, 2, 0]);
      expect(p.addresses.counters).toMatchObject({ endsByAddress: 3, unattributed: { unknown_address: 1, ambiguous_no_vni: 0, conflicting_claims: 0 } });
      expect(p.held.counters).toEqual({ held: 1, refused: 0, endsAttributedLate: 1, expired: 0 });
    });

    it('applies it with the end unknown_address once the watermark would pass its time + the lateness', () => {
      const { p, rejected } = pipeline();
      p.ingestMessage(flows, flow(T + 60_000 + L + 1, '10.0.0.1', '203.0.113.9', 100), 'x');
      expect(p.held.size).toBe(0);
      // Too late now: the claim changes nothing for the flow already counted.
      p.ingestMessage(attrs, vm(T, 'a2', '10.0.0.2', 'A', 100), 'x');

      expect(p.fleet.pairs.size).toBe(0);
      expect([p.fleet.counters.flowsApplied, rejected.length]).toEqual([2, 0]);
      expect(p.addresses.counters).toMatchObject({ endsByAddress: 2, unattributed: { unknown_address: 2, ambiguous_no_vni: 0, conflicting_claims: 0 } });
      expect(p.held.counters).toEqual({ held: 1, refused: 0, endsAttributedLate: 0, expired: 1 });
    });

    it('counts a claim that starts after the flow as no claim for it: the flow stays held, then unknown_address', () => {
      const { p } = pipeline();
      p.ingestMessage(attrs, vm(T + 120_000, 'a2', '10.0.0.2', 'A', 100), 'x');
      expect(p.held.size).toBe(1);
      p.releaseHeld();
      expect(p.fleet.pairs.size).toBe(0);
      expect(p.held.counters).toEqual({ held: 1, refused: 0, endsAttributedLate: 0, expired: 1 });
    });

    it('does not hold traffic to public addresses or in segments no attributes name', () => {
      const { p } = pipeline();
      p.ingestMessage(flows, flow(T + 60_000, '10.0.0.1', '203.0.113.9', 100), 'x');
      p.ingestMessage(flows, flow(T + 60_000, '10.0.0.1', '10.0.0.3', 999), 'x');
      expect(p.held.size).toBe(1);
    });

    it('holds at most MAX_HELD_FLOWS flows and MAX_HELD_FLOW_BYTES bytes: one more is applied at once, counted', () => {
      const { p } = pipeline({ ...defaultPipelineConfig, maxHeldFlows: 1 });
      p.ingestMessage(flows, flow(T + 61_000, '10.0.0.1', '10.0.0.3', 100), 'x');
      expect([p.held.size, p.fleet.counters.flowsApplied]).toEqual([1, 1]);
      expect(p.held.counters).toEqual({ held: 1, refused: 1, endsAttributedLate: 0, expired: 0 });
      expect(p.addresses.counters.unattributed.unknown_address).toBe(1);

      const small = pipeline({ ...defaultPipelineConfig, maxHeldFlowBytes: 100 }).p;
      expect([small.held.size, small.held.counters.refused, small.fleet.counters.flowsApplied]).toEqual([0, 1, 1]);
    });

    it('rejects a held flow of which no end is ever found as missing_vm, with its own text and place', () => {
      const rejected: RejectedRecord[] = [];
      const p = new Pipeline(defaultPipelineConfig, (r) => rejected.push(r));
      p.ingestMessage(attrs, vm(T, 'a1', '10.0.0.1', 'A', 100), 'x');
      p.ingestMessage(flows, flow(T + 60_000, '10.0.0.8', '10.0.0.9', 100), 'offset 7');
      p.releaseHeld();
      expect(rejected.map((r) => [r.reason, r.topic, r.source, JSON.parse(r.raw).src_ip])).toEqual([['missing_vm', flows, 'offset 7', '10.0.0.8']]);
    });
  });
});
