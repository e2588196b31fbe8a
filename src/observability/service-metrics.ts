/**
 * The service's Prometheus metrics on one registry: input, Kafka, runs, snapshots and the live state. Callers
 * report events through small methods, so that metric names, labels and units are decided here once and the
 * rest of the code imports no prom-client. The HTTP server's own metrics join the same registry from
 * src/http/request-metrics.ts.
 */
import { type AttributionCounters, UNATTRIBUTED_REASONS } from '../attribution/address-map.ts';
import type { HeldFlowCounters } from '../attribution/held-flows.ts';
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from 'prom-client';
import type { ClusteringRun, Side } from '../runs/clustering-run.ts';
import { countEvents, type LifecycleEventType, type RunChanges } from '../runs/identity.ts';

export type RunSide = 'vm' | 'tenant';

const SIDES: readonly RunSide[] = ['vm', 'tenant'];
const LIFECYCLE_EVENTS: readonly LifecycleEventType[] = ['born', 'died', 'split', 'merged'];

export interface ServiceMetricsOptions {
  /** Prefix of every metric name; default `alcor_`. */
  prefix?: string;
  /** Process metrics (CPU, memory, event-loop lag, GC); default true. */
  defaultMetrics?: boolean;
}

// Clustering takes milliseconds on small fleets and tens of seconds on large ones.
const RUN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export class ServiceMetrics {
  readonly registry: Registry;
  /** Prefix of every metric name, for metrics that join the registry from elsewhere (HTTP). */
  readonly prefix: string;
  private readonly recordsInTotal: Counter<'topic'>;
  private readonly flowRecordsByFormat: Counter<'format'>;
  private readonly rejectedTotal: Counter<'reason'>;
  private readonly lag: Gauge<'topic' | 'partition'>;
  private readonly vmsTracked: Gauge;
  private readonly tenantsTracked: Gauge;
  private readonly windowSeconds: Gauge;
  private readonly runDuration: Histogram<'side'>;
  private readonly clusters: Gauge<'side'>;
  private readonly silhouette: Gauge<'side'>;
  private readonly runsTotal: Counter;
  private readonly runSearches: Counter<'side' | 'mode' | 'reason'>;
  private readonly clusterEvents: Counter<'side' | 'event'>;
  private readonly moves: Counter<'side'>;
  private readonly lastRunChanges: Gauge<'side' | 'change'>;
  private readonly lastRunTimestamp: Gauge;
  private readonly snapshotBytes: Gauge;
  private readonly fleetEvents: Counter<'event'>;
  private readonly endsAttributed: Counter<'how'>;
  private readonly endsUnattributed: Counter<'reason'>;
  private readonly addressClaims: Gauge;
  private readonly addressClaimsRefused: Counter;
  private readonly heldFlowsGauge: Gauge;
  private readonly heldFlowBytes: Gauge;
  private readonly heldFlowEvents: Counter;
  private readonly endsAttributedLate: Counter;
  private readonly heldReported = new Map<string, number>();
  /** The fleet's counters as last reported, so each scrape adds only what happened since. */
  private readonly fleetReported = new Map<string, number>();
  private readonly attributionReported = new Map<string, number>();
  private readonly snapshotCapture: Histogram;
  private readonly snapshotTimestamp: Gauge;
  private readonly snapshotFailures: Counter<'step'>;
  private readonly deadLetterFailures: Counter<'code'>;
  private readonly deadLetterHeld: Gauge;
  private readonly offsetMismatches: Counter<'reason'>;
  private readonly messagesSkippedTotal: Counter;

  constructor(registry: Registry, options: ServiceMetricsOptions = {}) {
    const p = options.prefix ?? 'alcor_';
    const registers = [registry];
    this.registry = registry;
    this.prefix = p;
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: p });
    this.recordsInTotal = new Counter({ name: `${p}records_in_total`, help: 'Input records decoded, by topic', labelNames: ['topic'], registers });
    this.flowRecordsByFormat = new Counter({
      name: `${p}flow_records_in_total`,
      help: 'Flow records decoded, by the JSON format of the flows topic (alcor, goflow2, pmacct)',
      labelNames: ['format'],
      registers,
    });
    this.rejectedTotal = new Counter({
      name: `${p}records_rejected_total`,
      help: 'Input records rejected, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.lag = new Gauge({
      name: `${p}consumer_lag`,
      help: 'Kafka consumer lag in messages, by topic and partition',
      labelNames: ['topic', 'partition'],
      registers,
    });
    this.vmsTracked = new Gauge({ name: `${p}vms_tracked`, help: 'VMs held in the live state', registers });
    this.tenantsTracked = new Gauge({ name: `${p}tenants_tracked`, help: 'Tenants held in the live state', registers });
    this.windowSeconds = new Gauge({ name: `${p}window_seconds`, help: 'Length of the feature window in event time', registers });
    this.runDuration = new Histogram({
      name: `${p}run_duration_seconds`,
      help: 'Clustering time of each run, by side (vm, tenant)',
      labelNames: ['side'],
      buckets: RUN_BUCKETS,
      registers,
    });
    this.clusters = new Gauge({ name: `${p}clusters`, help: 'Clusters in the latest run, by side', labelNames: ['side'], registers });
    this.silhouette = new Gauge({
      name: `${p}silhouette`,
      help: 'Mean silhouette of the latest run, by side (NaN when undefined)',
      labelNames: ['side'],
      registers,
    });
    this.runsTotal = new Counter({ name: `${p}runs_total`, help: 'Clustering runs completed', registers });
    this.runSearches = new Counter({
      name: `${p}run_searches_total`,
      help: 'Clustering runs by side, mode (search: k searched; warm: one fit from the previous run) and reason (docs/clustering.md)',
      labelNames: ['side', 'mode', 'reason'],
      registers,
    });
    this.clusterEvents = new Counter({
      name: `${p}cluster_events_total`,
      help: 'Cluster lifecycle events over the runs, by side (vm, tenant) and event (born, died, split, merged)',
      labelNames: ['side', 'event'],
      registers,
    });
    this.moves = new Counter({
      name: `${p}cluster_moves_total`,
      help: 'VMs (side vm) or tenants (side tenant) whose cluster id changed from one run to the next',
      labelNames: ['side'],
      registers,
    });
    this.lastRunChanges = new Gauge({
      name: `${p}last_run_changes`,
      help: 'What the latest run changed, by side and change (born, died, split, merged: clusters; moved: members)',
      labelNames: ['side', 'change'],
      registers,
    });
    // Every series from the start, at 0: a rate over a series that appears late misses its first events.
    for (const side of SIDES) {
      this.moves.inc({ side }, 0);
      for (const event of LIFECYCLE_EVENTS) this.clusterEvents.inc({ side, event }, 0);
    }
    this.lastRunTimestamp = new Gauge({
      name: `${p}last_run_timestamp_seconds`,
      help: 'Wall-clock time the latest run completed; alert on its age',
      registers,
    });
    this.endsAttributed = new Counter({
      name: `${p}flow_ends_attributed_total`,
      help: 'Flow ends attributed to a VM, by how: named (src_vm/dst_vm given), by_address (a flow naming no VM, through the address map)',
      labelNames: ['how'],
      registers,
    });
    this.endsUnattributed = new Counter({
      name: `${p}flow_ends_unattributed_total`,
      help: 'Flow ends without a VM, by reason: outside (the null end of a flow naming the other VM), unknown_address, ambiguous_no_vni, conflicting_claims',
      labelNames: ['reason'],
      registers,
    });
    this.addressClaims = new Gauge({ name: `${p}address_claims`, help: 'Claims held by the address map (max MAX_ADDRESS_CLAIMS)', registers });
    this.addressClaimsRefused = new Counter({
      name: `${p}address_claims_refused_total`,
      help: 'New address claims not remembered because MAX_ADDRESS_CLAIMS were held',
      registers,
    });
    this.heldFlowsGauge = new Gauge({ name: `${p}held_flows`, help: 'Address-only flows held for late VM attributes (max MAX_HELD_FLOWS)', registers });
    this.heldFlowBytes = new Gauge({ name: `${p}held_flow_bytes`, help: 'Estimated bytes of the flows held for late VM attributes (max MAX_HELD_FLOW_BYTES)', registers });
    this.heldFlowEvents = new Counter({
      name: `${p}held_flows_total`,
      help: 'Address-only flows and the hold for late VM attributes, by event: held (entered it), refused (a cap reached: applied at once), expired (released as they resolve when the watermark would leave them too late)',
      labelNames: ['event'],
      registers,
    });
    this.endsAttributedLate = new Counter({
      name: `${p}held_flow_ends_attributed_total`,
      help: 'Flow ends attributed by VM attributes that arrived while their flow was held (also in flow_ends_attributed_total{how="by_address"})',
      registers,
    });
    this.fleetEvents = new Counter({
      name: `${p}fleet_events_total`,
      help: 'Changes of the live state and limits hit, by event: vms_expired, vms_refused (max_vms), flows_refused, vm_pairs_refused (max_vm_pairs), peer_sets_sketched (max_peers_per_vm), tenants_refused (max_tenants), tenant_labels_refused (max_tenant_labels), deleted_evicted (max_deleted_vms), security_group_connections_refused (max_security_group_connections), vm_attributes_stale, vms_deleted, ...',
      labelNames: ['event'],
      registers,
    });
    this.snapshotBytes = new Gauge({ name: `${p}snapshot_bytes`, help: 'Size of the latest state snapshot', registers });
    this.snapshotCapture = new Histogram({
      name: `${p}snapshot_capture_seconds`,
      help: 'Time to capture and encode a state snapshot; input is paused that long, the event loop is yielded every 2,000 VMs',
      buckets: RUN_BUCKETS,
      registers,
    });
    this.snapshotTimestamp = new Gauge({
      name: `${p}snapshot_timestamp_seconds`,
      help: 'Wall-clock time of the latest durable snapshot (its offsets are committed); alert on its age',
      registers,
    });
    this.snapshotFailures = new Counter({
      name: `${p}snapshot_failures_total`,
      help: 'Snapshots that failed, by step (capture, write, commit); the previous one stays the resume point',
      labelNames: ['step'],
      registers,
    });
    this.deadLetterFailures = new Counter({
      name: `${p}dead_letter_failures_total`,
      help: 'Dead-letter flushes that failed for a reason no retry cures, by Kafka error code (e.g. TOPIC_AUTHORIZATION_FAILED, MESSAGE_TOO_LARGE)',
      labelNames: ['code'],
      registers,
    });
    this.deadLetterHeld = new Gauge({
      name: `${p}dead_letter_blocked`,
      help: '1 while the input is held because its rejects cannot be written to the dead-letter topic (the records stay uncommitted), else 0',
      registers,
    });
    this.deadLetterHeld.set(0);
    this.offsetMismatches = new Counter({
      name: `${p}kafka_offset_mismatches_total`,
      help: 'Kafka offsets that no longer fit the log (cluster_changed, below_start, beyond_end, start_moved_back, partition_missing at a restore; offsets_behind while consuming): the state is rebuilt from the input, nothing skipped',
      labelNames: ['reason'],
      registers,
    });
    this.messagesSkippedTotal = new Counter({
      name: `${p}kafka_messages_skipped_total`,
      help: 'Messages redelivered below the offset the state already holds (after a restart or a rebalance), skipped so that none counts twice',
      registers,
    });
  }

  recordsIn(topic: string, n = 1): void {
    this.recordsInTotal.inc({ topic }, n);
  }

  /** Flow records decoded in a format; n = 0 shows the configured format before its first record. */
  flowRecordsIn(format: string, n: number): void {
    this.flowRecordsByFormat.inc({ format }, n);
  }

  rejected(reason: string, n = 1): void {
    this.rejectedTotal.inc({ reason }, n);
  }

  consumerLag(topic: string, partition: number, lag: number): void {
    this.lag.set({ topic, partition: String(partition) }, lag);
  }

  tracked(vms: number, tenants: number): void {
    this.vmsTracked.set(vms);
    this.tenantsTracked.set(tenants);
  }

  windowLength(ms: number): void {
    this.windowSeconds.set(ms / 1000);
  }

  runCompleted(run: ClusteringRun, completedAtMs: number = Date.now()): void {
    this.runsTotal.inc();
    this.lastRunTimestamp.set(completedAtMs / 1000);
    this.windowLength(run.windowMs);
    this.side('vm', run.vms);
    this.side('tenant', run.tenants);
  }

  /** A run's lifecycle events and moves (identity.ts); provisional placements have none and are not reported. */
  runChanges(changes: RunChanges): void {
    for (const [side, sideChanges] of [
      ['vm', changes.vms],
      ['tenant', changes.tenants],
    ] as const) {
      const counts = countEvents(sideChanges);
      for (const event of LIFECYCLE_EVENTS) {
        this.clusterEvents.inc({ side, event }, counts[event]);
        this.lastRunChanges.set({ side, change: event }, counts[event]);
      }
      this.moves.inc({ side }, counts.moved);
      this.lastRunChanges.set({ side, change: 'moved' }, counts.moved);
    }
  }

  private side(side: RunSide, s: Side): void {
    // The run records only its total; each side's stage timings add up to its own share of it.
    const ms = Object.values(s.outcome.timings).reduce((a, b) => a + b, 0);
    this.runDuration.observe({ side }, ms / 1000);
    this.clusters.set({ side }, s.outcome.k);
    this.silhouette.set({ side }, s.outcome.quality.silhouette ?? Number.NaN);
    const search = s.outcome.search;
    if (search) this.runSearches.inc({ side, mode: search.searched ? 'search' : 'warm', reason: search.reason });
  }

  /** The fleet state's monotonic counters (camelCase names), reported as events in snake_case. */
  fleetCounters(counters: Readonly<Record<string, number>>): void {
    for (const [name, value] of Object.entries(counters)) {
      const delta = value - (this.fleetReported.get(name) ?? 0);
      if (delta > 0) this.fleetEvents.inc({ event: name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) }, delta);
      this.fleetReported.set(name, value);
    }
  }

  /** The attribution's monotonic counters as a scrape finds them; each adds what happened since the last. */
  attribution(a: AttributionCounters & { claims: number }): void {
    const seen: Array<[string, number, (n: number) => void]> = [
      ['named', a.endsNamed, (n) => this.endsAttributed.inc({ how: 'named' }, n)],
      ['by_address', a.endsByAddress, (n) => this.endsAttributed.inc({ how: 'by_address' }, n)],
      ['outside', a.endsOutside, (n) => this.endsUnattributed.inc({ reason: 'outside' }, n)],
      ['claims_refused', a.claimsRefused, (n) => this.addressClaimsRefused.inc(n)],
    ];
    for (const reason of UNATTRIBUTED_REASONS) seen.push([reason, a.unattributed[reason], (n) => this.endsUnattributed.inc({ reason }, n)]);
    for (const [key, value, inc] of seen) {
      const delta = value - (this.attributionReported.get(key) ?? 0);
      if (delta > 0) inc(delta);
      this.attributionReported.set(key, value);
    }
    this.addressClaims.set(a.claims);
  }

  /** The hold for late attributes: its size now, and its monotonic counters, adding what happened since the last scrape. */
  heldFlows(h: HeldFlowCounters & { flows: number; bytes: number }): void {
    const seen: Array<[string, number, (n: number) => void]> = [
      ['held', h.held, (n) => this.heldFlowEvents.inc({ event: 'held' }, n)],
      ['refused', h.refused, (n) => this.heldFlowEvents.inc({ event: 'refused' }, n)],
      ['expired', h.expired, (n) => this.heldFlowEvents.inc({ event: 'expired' }, n)],
      ['ends_attributed_late', h.endsAttributedLate, (n) => this.endsAttributedLate.inc(n)],
    ];
    for (const [key, value, inc] of seen) {
      const delta = value - (this.heldReported.get(key) ?? 0);
      if (delta > 0) inc(delta);
      this.heldReported.set(key, value);
    }
    this.heldFlowsGauge.set(h.flows);
    this.heldFlowBytes.set(h.bytes);
  }

  snapshotSaved(bytes: number, captureMs: number, atMs: number = Date.now()): void {
    this.snapshotBytes.set(bytes);
    this.snapshotCapture.observe(captureMs / 1000);
    this.snapshotTimestamp.set(atMs / 1000);
  }

  snapshotFailed(step: string): void {
    this.snapshotFailures.inc({ step });
  }

  deadLetterFailed(code: string): void {
    this.deadLetterFailures.inc({ code });
  }

  deadLetterBlocked(blocked: boolean): void {
    this.deadLetterHeld.set(blocked ? 1 : 0);
  }

  kafkaOffsetMismatch(reason: string): void {
    this.offsetMismatches.inc({ reason });
  }

  kafkaMessagesSkipped(n: number): void {
    if (n > 0) this.messagesSkippedTotal.inc(n);
  }

  /** Prometheus text exposition of everything on the registry. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
