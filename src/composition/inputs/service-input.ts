/**
 * What the composition root asks of an input: the service knows where records come from only through
 * this. Two exist (Kafka, a trace file); another Kafka mode (several members sharing the partitions) plugs
 * in by implementing the same interface.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { RejectedRecord } from '../../contract/rejections.ts';
import type { FleetState } from '../../fleet/fleet-state.ts';
import type { ServiceMetrics } from '../../observability/service-metrics.ts';
import type { PipelineConfig } from '../../pipeline/pipeline.ts';
import type { ClusterService } from '../../service/cluster-service.ts';

/** State an input brings back from an earlier process (a snapshot), read before the service is built. */
export interface RestoredInputState {
  /** The fleet state to continue from. */
  fleet: FleetState;
  /** Puts the rest of the restored state (counters, schedule, runs) into the service built on `fleet`; a problem to log, or null. */
  applyTo(service: ClusterService): string | null;
}

export interface InputPreparation {
  /** null: the service starts with empty windows. */
  restored: RestoredInputState | null;
  /** Logs (and counts) what the preparation found, once the service's logger exists. */
  report(log: FastifyBaseLogger, metrics: ServiceMetrics): void;
}

export interface InputContext {
  service: ClusterService;
  metrics: ServiceMetrics;
  log: FastifyBaseLogger;
  pipeline: PipelineConfig;
  /** Brings the records-in counters up to date now (before an input announces it is ready). */
  reportRecords(): void;
}

export interface ServiceInput {
  /** A live input bounds event time by the wall clock; a trace has only its own time. */
  readonly live: boolean;
  /** Where the runs' models and history go, and whether an earlier process's are loaded at start. */
  readonly models: { dir: string; loadEarlier: boolean };
  /** Reads what an earlier process left (a snapshot); the pipeline is built after it. */
  prepare(pipeline: PipelineConfig): Promise<InputPreparation>;
  /** Where a rejected record is kept besides its count (a dead-letter topic, a rejects file). */
  reject(record: RejectedRecord): void;
  /** Starts feeding the service; resolves once the input runs (a trace: once it is read whole). */
  start(context: InputContext): Promise<void>;
  /** Reports its own figures (lag, skipped messages, readiness); called every few seconds. */
  poll?(context: InputContext): void;
  /** Stops taking input: the last batch is applied (and a final snapshot taken) first. Idempotent. */
  stop(): Promise<void>;
}
