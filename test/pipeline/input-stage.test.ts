/**
 * The input stage is defined once (src/pipeline/input-stage.ts): one process's Pipeline and a member's
 * Router must judge every flow alike, held, released, expired, refused by a cap or rejected.
 */
import { describe, expect, it } from 'vitest';
import type { RejectedRecord } from '../../src/contract/rejections.ts';
import { defaultFutureBoundConfig } from '../../src/pipeline/future-bound.ts';
import { defaultPipelineConfig, Pipeline, type PipelineConfig } from '../../src/pipeline/pipeline.ts';
import { type Routed, Router } from '../../src/topology/router.ts';

const T = Date.UTC(2026, 10, 1);
const L = defaultPipelineConfig.window.allowedLatenessMs;
const { vmAttributes: attrs, flows } = defaultPipelineConfig.topics;
/** A fixed wall clock, so that the flow a year ahead is judged future_ts whatever the day the test runs. */
const config: PipelineConfig = { ...defaultPipelineConfig, future: { ...defaultFutureBoundConfig, wallClock: () => T + 3_600_000 } };
const vm = (ts: number, id: string, ip: string) => JSON.stringify({ ts, vm_id: id, tenant_id: 't', vpc_id: 'A', ip, segmentation_id: 100, state: 'active' });
const flow = (ts: number, src: string, dst: string) =>
  JSON.stringify({ ts, src_ip: src, dst_ip: dst, vni: 100, src_port: 40000, dst_port: 443, protocol: 'tcp', bytes: 100, packets: 1 });

/** Held (one capped away), released by a late claim, expired, too late, from the future, with no VM at all. */
const MESSAGES: [string, string][] = [
  [attrs, vm(T, 'a1', '10.0.0.1')],
  [flows, flow(T + 60_000, '10.0.0.1', '10.0.0.2')],
  [flows, flow(T + 61_000, '10.0.0.1', '10.0.0.3')],
  [flows, flow(T + 62_000, '10.0.0.9', '10.0.0.8')],
  [attrs, vm(T, 'a2', '10.0.0.2')],
  [flows, flow(T + 70_000, '10.0.0.1', '10.0.0.4')],
  [flows, flow(T + 70_000 + L + 1, '10.0.0.1', '10.0.0.2')],
  [flows, flow(T, '10.0.0.1', '10.0.0.2')],
  [flows, flow(T + 400 * 86_400_000, '10.0.0.1', '10.0.0.2')],
  [flows, flow(T + 70_000 + L + 2, '203.0.113.1', '203.0.113.2')],
];

/** `reason field source index`: the held flow with no end found, then the too late, the future and the public one. */
const EXPECTED_REJECTIONS = ['missing_vm src_vm 0@3 null', 'too_late ts 0@7 null', 'future_ts ts 0@8 null', 'missing_vm src_vm 0@9 null'];

function outcome(config: PipelineConfig, stage: 'pipeline' | 'router') {
  const rejected: string[] = [];
  const keep = (r: RejectedRecord) => rejected.push(`${r.reason} ${r.field} ${r.source} ${r.index}`);
  if (stage === 'pipeline') {
    const p = new Pipeline(config, keep);
    for (const [i, [topic, text]] of MESSAGES.entries()) p.ingestMessage(topic, text, `0@${i}`);
    p.releaseHeld();
    return { rejected, records: p.recordsIn, held: p.held.counters, addresses: p.addresses.counters, applied: p.fleet.counters.flowsApplied };
  }
  const router = new Router(config, keep);
  const out: Routed[] = [];
  for (const [i, [topic, text]] of MESSAGES.entries()) router.route(topic, text, `0@${i}`, out);
  router.releaseHeld(out);
  const routed = out.filter((r) => r.to === 'connections').length;
  return { rejected, records: router.recordsIn, held: router.held.counters, addresses: router.addresses.counters, applied: routed };
}

describe('the input stage', () => {
  it.each([
    ['no cap', config, 0],
    ['one held flow at most', { ...config, maxHeldFlows: 1 }, 2],
  ])('judges every flow alike in one process and in a route (%s)', (_, c, refused) => {
    const single = outcome(c, 'pipeline');
    expect(outcome(c, 'router')).toEqual(single);
    // The sequence reaches every branch: held, refused at the cap, released by a late claim, expired,
    // and rejected as too_late, future_ts and missing_vm (held with no end found, and with public ends).
    expect(single.held.refused).toBe(refused);
    expect(single.held.endsAttributedLate).toBe(1);
    expect(single.held.expired).toBe(3 - refused);
    expect(single.rejected).toEqual(EXPECTED_REJECTIONS);
  });

});
