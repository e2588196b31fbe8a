/** The snapshot document keeps the Kafka log identity of its offsets; snapshots of the first format still load. */
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
import { captureSnapshot, decodeSnapshot, encodeSnapshot, loadLatestSnapshot } from '../../src/snapshots/service-snapshot.ts';
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
});
