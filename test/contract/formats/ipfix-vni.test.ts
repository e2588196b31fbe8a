/**
 * The VNI end to end (issue 14): flows as Open vSwitch exports them over IPFIX, with its tunnelKey element
 * (enterprise 6876, element 892) holding the VXLAN VNI, encoded by a real IPFIX library (python-ipfix, from
 * PyPI), collected by a real goflow2 with the mapping of docs/exporters.md, published into the test broker
 * and read back: the VNI arrives, and two VPCs that reuse the same addresses are told apart by it, so the
 * pipeline attributes each flow to the VMs of its own VPC. softflowd cannot carry a VNI (NetFlow v9 from
 * packet headers, keyed on the outer ones), hence an encoder standing in for OVS here.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectorToContract } from '../../../src/contract/formats/flow-formats.ts';
import { defaultPipelineConfig, Pipeline } from '../../../src/pipeline/pipeline.ts';
import { type Daemon, ensureGoflow2, ensureIpfixEncoder, freeUdpPort, type IpfixFlow, sendIpfix, startDaemon } from '../../helpers/exporters.ts';
import { createTopics, readTopicValues, sharedTestKafka, uniqueTopic } from '../../helpers/kafka.ts';

const START = Date.UTC(2026, 10, 1, 0, 0, 0);

/** docs/exporters.md's goflow2 mapping, as an operator would write it. */
const MAPPING = `formatter:
  fields: [type, time_received_ns, time_flow_start_ns, time_flow_end_ns, sampling_rate, sampler_address,
           bytes, packets, src_addr, dst_addr, etype, proto, src_port, dst_port, vni]
  protobuf:
    - name: vni
      index: 1001
      type: varint
ipfix:
  mapping:
    - field: 892
      penprovided: true
      pen: 6876
      destination: vni
`;

/** The same two addresses talking in two VPCs (VNI 100 and 200), each direction its own flow, distinct sizes. */
const FLOWS: IpfixFlow[] = [100, 200].flatMap((vni, v) =>
  [
    ['10.0.0.1', '10.0.0.2', 40_000, 443],
    ['10.0.0.2', '10.0.0.1', 443, 40_000],
  ].map(([src, dst, sport, dport], d) => ({
    start_ms: START,
    end_ms: START + 30_000,
    src: src as string,
    dst: dst as string,
    sport: sport as number,
    dport: dport as number,
    proto: 6,
    bytes: 1000 * (1 + v) + 100 * d,
    packets: 10 + v,
    vni,
  })),
);

describe('the VNI end to end: IPFIX with OVS tunnelKey -> goflow2 -> Kafka -> adapter -> attribution', () => {
  const work = mkdtempSync(join(tmpdir(), 'alcor-ipfix-'));
  let brokers = '';
  let collector: Daemon | null = null;

  beforeAll(async () => {
    await Promise.all([ensureGoflow2(), ensureIpfixEncoder()]);
    ({ brokers } = await sharedTestKafka());
  }, 600_000);

  afterAll(async () => {
    await collector?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('carries each flow with its VNI, and the VNI tells apart two VPCs reusing the same addresses', async () => {
    const topic = uniqueTopic('ipfix-vni');
    await createTopics(brokers, [topic], 1);
    const mapping = join(work, 'mapping.yaml');
    writeFileSync(mapping, MAPPING);
    const port = await freeUdpPort();
    collector = startDaemon(await ensureGoflow2(), [
      '-listen', `netflow://127.0.0.1:${port}?count=1&workers=1`,
      '-addr', '127.0.0.1:0',
      '-format', 'json',
      '-mapping', mapping,
      '-transport', 'kafka',
      '-transport.kafka.brokers', brokers,
      '-transport.kafka.topic', topic,
      '-transport.kafka.flushfreq', '200ms',
    ]);
    await collector.waitFor(/starting collection/i, 30_000);
    await sendIpfix(FLOWS, port);
    const messages = await readTopicValues(brokers, topic, FLOWS.length, 30_000);
    await collector.stop();
    expect(messages, collector.output().slice(-2000)).toHaveLength(FLOWS.length);

    const decoded = messages.map((text) => {
      const d = collectorToContract('goflow2', JSON.parse(text) as Record<string, unknown>);
      if (!d.ok) throw new Error(`rejected: ${d.rejection.message}: ${text}`);
      return d.value;
    });
    const sort = (rows: object[]) => rows.map((r) => JSON.stringify(r)).sort();
    expect(sort(decoded)).toEqual(
      sort(
        FLOWS.map((f) => ({
          ts: f.end_ms,
          start_ts: f.start_ms,
          src_ip: f.src,
          dst_ip: f.dst,
          src_port: f.sport,
          dst_port: f.dport,
          protocol: 6,
          bytes: f.bytes,
          packets: f.packets,
          vni: f.vni,
        })),
      ),
    );

    // Through the pipeline as the service reads the flows topic with KAFKA_FLOW_FORMAT=goflow2.
    const rejected: string[] = [];
    const pipeline = new Pipeline({ ...defaultPipelineConfig, flowFormat: 'goflow2' }, (r) => rejected.push(r.reason));
    const { vmAttributes, flows } = defaultPipelineConfig.topics;
    for (const [vm, ip, vpc, vni] of [
      ['a1', '10.0.0.1', 'vpc-a', 100],
      ['a2', '10.0.0.2', 'vpc-a', 100],
      ['b1', '10.0.0.1', 'vpc-b', 200],
      ['b2', '10.0.0.2', 'vpc-b', 200],
    ] as const) {
      pipeline.ingestMessage(vmAttributes, JSON.stringify({ ts: START - 60_000, vm_id: vm, tenant_id: vpc, vpc_id: vpc, ip, segmentation_id: vni }), 'x');
    }
    for (const text of messages) pipeline.ingestMessage(flows, text, 'x');
    expect(rejected).toEqual([]);
    expect(pipeline.addresses.counters).toMatchObject({ endsByAddress: 8, unattributed: { unknown_address: 0, ambiguous_no_vni: 0, conflicting_claims: 0 } });
    const input = pipeline.runInput();
    const edges = Array.from(input.vmPairs.a, (a, i) => `${input.vmIds[a]}-${input.vmIds[input.vmPairs.b[i]!]}: ${input.vmPairs.bytes[i]}`).sort();
    expect(edges).toEqual(['a1-a2: 2100', 'b1-b2: 4100']);
  }, 180_000);
});
