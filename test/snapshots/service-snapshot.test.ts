/**
 * The snapshot document keeps the Kafka log identity of its offsets and the security groups' connection log;
 * snapshots of the first and second formats still load (without them).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { fleetCodec } from '../../src/fleet/fleet-codec.ts';
import type { KafkaLogIdentity } from '../../src/contract/topics.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { ClusterService } from '../../src/service/cluster-service.ts';
import { InlineClusterer } from '../../src/service/clusterer.ts';
import { applySnapshot, captureSnapshot, decodeSnapshot, encodeSnapshot, loadLatestSnapshot } from '../../src/snapshots/service-snapshot.ts';
import { encodeSnapshotFile } from '../../src/snapshots/snapshot-file.ts';
import { SnapshotStore } from '../../src/snapshots/snapshot-store.ts';

const opts = PipelineOptions.parse({ reclusterMinutes: 0 });
const config = toPipelineConfig(opts);
const expectFor = { window: config.window, topics: config.topics };
const offsets = [{ topic: config.topics.flows, partition: 0, next: '42' }];
const identity: KafkaLogIdentity = { clusterId: 'Yq3mS0bNQk2h5x0eWv8pTA', partitions: [{ topic: config.topics.flows, partition: 0, low: '3', high: '57' }] };

function service(): ClusterService {
  const s = new ClusterService(new Pipeline(config), new InlineClusterer(), toRunOptions(opts), () => 0);
  s.ingestMessage(
    config.topics.flows,
    JSON.stringify({ ts: '2026-11-01T00:00:00Z', src_vm: 'vm-1', dst_vm: 'vm-2', src_ip: '10.0.0.1', dst_ip: '10.0.0.2', src_port: 40000, dst_port: 443, protocol: 'tcp', bytes: 10, packets: 1 }),
    'x',
  );
  return s;
}

describe('service snapshot format', () => {
  it('keeps the cluster id and partition extents of its offsets', () => {
    const snapshot = captureSnapshot(service(), offsets, fleetCodec, 1000, identity);
    const back = decodeSnapshot(encodeSnapshot(snapshot), expectFor);
    expect(back.offsets).toEqual(offsets);
    expect(back.kafka).toEqual(identity);
  });

  it('loads a format-1 snapshot (no log identity) with its offsets', async () => {
    const { kafka: _dropped, ...v1 } = captureSnapshot(service(), offsets, fleetCodec, 1000, identity);
    const dir = await mkdtemp(join(tmpdir(), 'snapshot-v1-'));
    await new SnapshotStore(dir).save(encodeSnapshotFile(v1, 1));
    const load = await loadLatestSnapshot(new SnapshotStore(dir), fleetCodec, expectFor);
    expect(load.problems).toEqual([]);
    expect(load.restored?.snapshot.kafka).toBe(null);
    expect(load.restored?.snapshot.offsets).toEqual(offsets);
    expect([...(load.restored?.fleet.vms.keys() ?? [])].sort()).toEqual(['vm-1', 'vm-2']);
  });

  it('carries the connection log: a restored service learns the same rules and keeps counting where it was', () => {
    const s = service();
    const snapshot = captureSnapshot(s, offsets, fleetCodec, 1000, identity);
    const back = decodeSnapshot(encodeSnapshot(snapshot), expectFor);
    expect(back.connections?.ints.length).toBe(7);
    const pipeline = new Pipeline(config);
    const restored = new ClusterService(pipeline, new InlineClusterer(), toRunOptions(opts), () => 0);
    expect(applySnapshot(back, restored)).toBe(null);
    expect(pipeline.connections.traffic(Date.UTC(2026, 10, 1, 0, 1))).toEqual((s as unknown as { pipeline: Pipeline }).pipeline.connections.traffic(Date.UTC(2026, 10, 1, 0, 1)));
    expect(pipeline.connections.counters).toEqual({ recorded: 1, refused: 0, badPort: 0, noVm: 0, forgotten: 0 });
    // The same connection again adds to the restored entry instead of making a second one.
    restored.ingestMessage(
      config.topics.flows,
      JSON.stringify({ ts: '2026-11-01T00:00:30Z', src_vm: 'vm-2', dst_vm: 'vm-1', src_ip: '10.0.0.2', dst_ip: '10.0.0.1', src_port: 443, dst_port: 40001, protocol: 'tcp', bytes: 5, packets: 1 }),
      'x',
    );
    expect(pipeline.connections.size).toBe(1);
    expect(pipeline.connections.traffic(Date.UTC(2026, 10, 1, 0, 1))[0]![1]).toEqual({ earlierFlows: 0, earlierBytes: 0, latestFlows: 2, latestBytes: 15 });
  });

  it('a format-2 snapshot (no connection log) restores with an empty one; a log that does not hold together is refused, not fatal', async () => {
    const { connections: _dropped, ...v2 } = captureSnapshot(service(), offsets, fleetCodec, 1000, identity);
    const dir = await mkdtemp(join(tmpdir(), 'snapshot-v2-'));
    await new SnapshotStore(dir).save(encodeSnapshotFile(v2, 2));
    const load = await loadLatestSnapshot(new SnapshotStore(dir), fleetCodec, expectFor);
    expect(load.problems).toEqual([]);
    expect(load.restored?.snapshot.connections).toBe(null);
    const pipeline = new Pipeline(config);
    expect(applySnapshot(load.restored!.snapshot, new ClusterService(pipeline, new InlineClusterer(), toRunOptions(opts), () => 0))).toBe(null);
    expect(pipeline.connections.size).toBe(0);
    const broken = captureSnapshot(service(), offsets, fleetCodec, 1000, identity);
    broken.connections!.ints[0] = 99;
    const other = new Pipeline(config);
    expect(applySnapshot(broken, new ClusterService(other, new InlineClusterer(), toRunOptions(opts), () => 0))).toBe(
      'the connection log was not restored: connection log: a row names an end or address the snapshot does not hold',
    );
    expect(other.connections.size).toBe(0);
  });

  it('restores under a lower cap by leaving out the newest connections, counted as refused', () => {
    const s = service();
    s.ingestMessage(
      config.topics.flows,
      JSON.stringify({ ts: '2026-11-01T00:00:10Z', src_vm: 'vm-1', dst_vm: 'vm-3', src_ip: '10.0.0.1', dst_ip: '10.0.0.3', src_port: 40000, dst_port: 5432, protocol: 'tcp', bytes: 10, packets: 1 }),
      'x',
    );
    const snapshot = captureSnapshot(s, offsets, fleetCodec, 1000, identity);
    const pipeline = new Pipeline({ ...config, maxSecurityGroupConnections: 1 });
    applySnapshot(snapshot, new ClusterService(pipeline, new InlineClusterer(), toRunOptions(opts), () => 0));
    expect(pipeline.connections.size).toBe(1);
    expect(pipeline.connections.traffic(Date.UTC(2026, 10, 1, 0, 1))[0]![0].port).toBe(443);
    expect(pipeline.connections.counters.refused).toBe(1);
  });
});

describe('address map in the snapshot', () => {
  const attrs = (ts: string, id: string, vpc: string, vni: number, state = 'active') =>
    JSON.stringify({ ts, vm_id: id, tenant_id: 't', vpc_id: vpc, ip: '10.0.0.1', vni, state });
  const addressed = (ts: string, vni: number) =>
    JSON.stringify({ ts, src_ip: '10.0.0.1', dst_ip: '198.51.100.7', vni, src_port: 40000, dst_port: 443, protocol: 'tcp', bytes: 10, packets: 1 });

  /** Two VPCs reuse one address; in A it passed from a deleted VM to a new one. */
  function withAddresses(): ClusterService {
    const s = new ClusterService(new Pipeline(config), new InlineClusterer(), toRunOptions(opts), () => 0);
    const t = config.topics;
    s.ingestMessage(t.vmAttributes, attrs('2026-11-01T00:00:00Z', 'old', 'A', 100), 'x');
    s.ingestMessage(t.vmAttributes, attrs('2026-11-01T00:00:00Z', 'other', 'B', 200), 'x');
    s.ingestMessage(t.flows, addressed('2026-11-01T00:01:00Z', 100), 'x');
    s.ingestMessage(t.vmAttributes, attrs('2026-11-01T00:02:00Z', 'old', 'A', 100, 'deleted'), 'x');
    s.ingestMessage(t.vmAttributes, attrs('2026-11-01T00:03:00Z', 'new', 'A', 100), 'x');
    s.ingestMessage(t.flows, addressed('2026-11-01T00:04:00Z', 100), 'x');
    return s;
  }

  async function restore(bytes: Buffer): Promise<Pipeline> {
    const dir = await mkdtemp(join(tmpdir(), 'snapshot-addresses-'));
    await new SnapshotStore(dir).save(bytes);
    const load = await loadLatestSnapshot(new SnapshotStore(dir), fleetCodec, expectFor);
    expect(load.problems).toEqual([]);
    const restored = load.restored;
    if (restored === null) throw new Error('not restored');
    const pipeline = new Pipeline(config, () => {}, restored.fleet);
    applySnapshot(restored.snapshot, new ClusterService(pipeline, new InlineClusterer(), toRunOptions(opts), () => 0));
    return pipeline;
  }

  it('travels with it exactly: claims, their time spans, deletions and counters', async () => {
    const original = withAddresses();
    const snapshot = captureSnapshot(original, offsets, fleetCodec, 1000, identity);
    const pipeline = await restore(encodeSnapshot(snapshot));
    expect(pipeline.addresses.exportState()).toEqual((original as unknown as { pipeline: Pipeline }).pipeline.addresses.exportState());
    // A late flow from before the deletion is still the old VM's, a new one the new VM's, VPC B's its own.
    expect(pipeline.addresses.lookup('10.0.0.1', 100, Date.parse('2026-11-01T00:01:30Z'))).toBe('old');
    expect(pipeline.addresses.lookup('10.0.0.1', 100, Date.parse('2026-11-01T00:04:00Z'))).toBe('new');
    expect(pipeline.addresses.lookup('10.0.0.1', 200, Date.parse('2026-11-01T00:04:00Z'))).toBe('other');
    expect(pipeline.fleet.vms.get('new')?.attributes?.vni).toBe(100);
  });

  it('restores a snapshot of an earlier build (no address map) with a map rebuilt from the VM attributes', async () => {
    const original = withAddresses();
    const snapshot = captureSnapshot(original, offsets, fleetCodec, 1000, identity);
    const { attribution: _none, ...pipelineState } = snapshot.pipeline;
    const pipeline = await restore(encodeSnapshot({ ...snapshot, pipeline: pipelineState }));
    expect(pipeline.addresses.size).toBe(2);
    expect(pipeline.addresses.lookup('10.0.0.1', 100, Date.parse('2026-11-01T00:04:00Z'))).toBe('new');
    expect(pipeline.addresses.lookup('10.0.0.1', 200, Date.parse('2026-11-01T00:04:00Z'))).toBe('other');
  });

  it('keeps the flows held for late attributes: restored, a claim arriving then attributes them', async () => {
    const s = new ClusterService(new Pipeline(config), new InlineClusterer(), toRunOptions(opts), () => 0);
    const t = config.topics;
    const vm = (id: string, ip: string) => JSON.stringify({ ts: '2026-11-01T00:00:00Z', vm_id: id, tenant_id: 't', vpc_id: 'A', ip, vni: 100 });
    s.ingestMessage(t.vmAttributes, vm('a1', '10.0.0.1'), 'x');
    s.ingestMessage(
      t.flows,
      JSON.stringify({ ts: '2026-11-01T00:01:00Z', src_ip: '10.0.0.1', dst_ip: '10.0.0.2', vni: 100, src_port: 40000, dst_port: 443, protocol: 'tcp', bytes: 10, packets: 1 }),
      'offset 9',
    );
    const original = (s as unknown as { pipeline: Pipeline }).pipeline;
    expect(original.held.size).toBe(1);

    const pipeline = await restore(encodeSnapshot(captureSnapshot(s, offsets, fleetCodec, 1000, identity)));
    expect(pipeline.held.exportState()).toEqual(original.held.exportState());
    expect(pipeline.held.bytes).toBe(original.held.bytes);
    pipeline.ingestMessage(t.vmAttributes, vm('a2', '10.0.0.2'), 'x');
    expect([pipeline.held.size, pipeline.fleet.pairs.size, pipeline.held.counters.endsAttributedLate]).toEqual([0, 1, 1]);
  });

  it('keeps the watermark of each input partition and the reader\'s', async () => {
    const s = withAddresses();
    s.inputPartitions.assign([`${config.topics.flows}/0`, `${config.topics.flows}/1`], 0);
    const flow = (ts: string) => JSON.stringify({ ts, src_vm: 'vm-1', dst_vm: 'vm-2', src_ip: '10.0.0.1', dst_ip: '10.0.0.2', src_port: 40000, dst_port: 443, protocol: 'tcp', bytes: 10, packets: 1 });
    s.ingestMessage(config.topics.flows, flow('2026-11-01T00:06:00Z'), 'x', `${config.topics.flows}/0`);
    s.inputPartitions.read(`${config.topics.flows}/0`, 1, 9, 0);
    s.ingestMessage(config.topics.flows, flow('2026-11-01T00:05:00Z'), 'x', `${config.topics.flows}/1`);
    s.inputPartitions.read(`${config.topics.flows}/1`, 1, 9, 0);
    const state = s.inputPartitions.exportState();
    expect(state).toEqual({
      reader: Date.parse('2026-11-01T00:05:00Z'),
      partitions: [
        { partition: `${config.topics.flows}/0`, watermark: Date.parse('2026-11-01T00:06:00Z') },
        { partition: `${config.topics.flows}/1`, watermark: Date.parse('2026-11-01T00:05:00Z') },
      ],
    });
    const pipeline = await restore(encodeSnapshot(captureSnapshot(s, offsets, fleetCodec, 1000, identity)));
    expect(pipeline.inputPartitions.exportState()).toEqual(state);
  });

  it('restores a snapshot of an earlier build (one watermark): the reader\'s watermark is the fleet\'s', async () => {
    const snapshot = captureSnapshot(withAddresses(), offsets, fleetCodec, 1000, identity);
    expect(snapshot.pipeline.inputPartitions).toBeUndefined();
    const pipeline = await restore(encodeSnapshot(snapshot));
    expect(pipeline.inputPartitions.exportState()).toEqual({ reader: Date.parse('2026-11-01T00:04:00Z'), partitions: [] });
  });

  it('restores a snapshot of an earlier build (no held flows) holding none', async () => {
    const snapshot = captureSnapshot(withAddresses(), offsets, fleetCodec, 1000, identity);
    const { held: _none, ...pipelineState } = snapshot.pipeline;
    const pipeline = await restore(encodeSnapshot({ ...snapshot, pipeline: pipelineState }));
    expect([pipeline.held.size, pipeline.held.counters.held]).toEqual([0, 0]);
  });
});
