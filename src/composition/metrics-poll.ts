/**
 * The metrics that are read rather than reported: every few seconds, the records in by topic follow the
 * service's own counts, and the input reports its figures (lag, skipped messages, readiness).
 */
import type { ServiceMetrics } from '../observability/service-metrics.ts';
import type { TopicNames } from '../contract/topics.ts';
import type { ClusterService } from '../service/cluster-service.ts';
import type { InputContext, ServiceInput } from './inputs/service-input.ts';

const METRICS_POLL_MS = 5000;

/** Counters of records in by topic that follow the service's own counts: each call adds what came since. */
export function recordsInReporter(service: ClusterService, metrics: ServiceMetrics, topics: TopicNames): () => void {
  const reported = { flows: 0, vmAttributes: 0, tenantAttributes: 0 };
  return () => {
    const now = service.recordsIn();
    metrics.recordsIn(topics.flows, now.flows - reported.flows);
    metrics.recordsIn(topics.vmAttributes, now.vmAttributes - reported.vmAttributes);
    metrics.recordsIn(topics.tenantAttributes, now.tenantAttributes - reported.tenantAttributes);
    Object.assign(reported, now);
  };
}

/** Polls the records-in counters and the input's own figures until the returned function is called. */
export function startMetricsPoll(context: InputContext, input: ServiceInput, intervalMs = METRICS_POLL_MS): () => void {
  const timer = setInterval(() => {
    context.reportRecords();
    input.poll?.(context);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
