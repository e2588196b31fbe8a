/**
 * The Kafka input's way back in after a restart, in three steps: the newest usable snapshot; a check that
 * its offsets still name the same records of the Kafka log (same cluster, partitions neither recreated nor
 * truncated); and the offsets to consume from, which are the start of the input topics when they do not.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { KafkaSettings } from '../config/kafka-settings.ts';
import { fleetCodec } from '../fleet/fleet-codec.ts';
import type { ServiceMetrics } from '../observability/service-metrics.ts';
import type { PartitionOffset } from '../contract/topics.ts';
import { type ResumeCheck, startOffsets, verifyResumePoint } from '../kafka/log-identity.ts';
import type { PipelineConfig } from '../pipeline/pipeline.ts';
import { applySnapshot, loadLatestSnapshot, type RestoredState, type SnapshotLoad } from '../snapshots/service-snapshot.ts';
import type { SnapshotStore } from '../snapshots/snapshot-store.ts';
import type { InputPreparation } from './inputs/service-input.ts';

export interface KafkaRestore extends InputPreparation {
  /** The offsets to consume from: the snapshot's, the log's start when they no longer fit, none without a snapshot. */
  resumeFrom: PartitionOffset[];
}

export async function restoreFromSnapshots(store: SnapshotStore | null, kafka: KafkaSettings, pipeline: PipelineConfig): Promise<KafkaRestore> {
  const load: SnapshotLoad = store
    ? await loadLatestSnapshot(store, fleetCodec, { window: pipeline.window, topics: pipeline.topics }, Date.now() + (pipeline.future?.maxSkewMs ?? 0))
    : { restored: null, problems: [] };
  let restored = load.restored;
  const check: ResumeCheck | null = restored ? await verifyResumePoint(kafka, restored.snapshot) : null;
  // Offsets that no longer fit: the state is dropped and rebuilt from the start of the input, nothing skipped.
  const rebuiltFrom = check?.status === 'mismatch' ? restored : null;
  let resumeFrom = restored?.snapshot.offsets ?? [];
  if (check?.status === 'mismatch') {
    restored = null;
    resumeFrom = startOffsets(check.identity);
  }
  const kept = restored;
  return {
    resumeFrom,
    restored: kept && { fleet: kept.fleet, applyTo: (service) => applySnapshot(kept.snapshot, service) },
    report: (log, metrics) => reportRestore(log, metrics, { store, load, restored: kept, rebuiltFrom, check, resumeFrom }),
  };
}

interface RestoreOutcome {
  store: SnapshotStore | null;
  load: SnapshotLoad;
  restored: RestoredState | null;
  rebuiltFrom: RestoredState | null;
  check: ResumeCheck | null;
  resumeFrom: PartitionOffset[];
}

function reportRestore(log: FastifyBaseLogger, metrics: ServiceMetrics, o: RestoreOutcome): void {
  for (const p of o.load.problems) log.error({ snapshot: p.path, problem: p.error }, `skipping the snapshot ${p.path}: ${p.error}`);
  if (o.load.problems.length > 0) log.warn({ skipped: o.load.problems.length }, `skipped ${o.load.problems.length} snapshot(s) on the way back in`);
  if (o.restored) {
    const s = o.restored.snapshot;
    log.info(
      { snapshot: o.restored.path, taken_at: new Date(s.takenAt).toISOString(), vms: o.restored.fleet.vms.size, offsets: s.offsets, latest_run: s.service.latest?.runId ?? null },
      'restored the state from a snapshot: consuming from its offsets',
    );
    const d = o.restored.droppedFuture;
    if (d.tombstones + d.tenants + d.vmAttributes > 0)
      log.warn(
        { snapshot: o.restored.path, tombstones: d.tombstones, tenant_attributes: d.tenants, vm_attributes: d.vmAttributes },
        'dropped attributes later than the wall clock plus the allowed future skew from the restored snapshot (see docs/event-time.md)',
      );
  } else if (o.check?.status === 'mismatch' && o.rebuiltFrom) {
    for (const p of o.check.problems) metrics.kafkaOffsetMismatch(p.reason);
    log.error(
      { snapshot: o.rebuiltFrom.path, problems: o.check.problems, from: o.resumeFrom },
      `the offsets of the snapshot ${o.rebuiltFrom.path} no longer fit the Kafka log (${o.check.problems.map((p) => `${p.reason}: ${p.detail}`).join('; ')}): rebuilding the state from the start of the input topics instead of skipping the records below them`,
    );
  } else if (o.store) log.info({ dir: o.store.dir }, 'no snapshot to restore: starting with empty windows');
  if (o.check?.status === 'unverified') {
    log.warn({ err: o.check.error }, 'could not check the snapshot\'s offsets against the Kafka cluster; resuming from them (the consumer still checks that no log ends below them)');
  }
}
