/**
 * Per-member metrics of a scale-out application, read from the member at each scrape (docs/scale-out.md).
 * Names start like every other metric of the service, so one dashboard covers both modes.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { type MemberStatus, RESTORE_SOURCES, RUN_NOT_SERVED_REASONS, WINDOW_PHASES } from './member.ts';
import { ROUTE_PHASES } from './route-stage.ts';

export const SCALE_OUT_METRICS = [
  'alcor_scale_out_partitions_owned',
  'alcor_scale_out_vms_owned',
  'alcor_scale_out_changelog_lag',
  'alcor_scale_out_leader',
  'alcor_scale_out_leaderships',
  'alcor_scale_out_restores_total',
  'alcor_scale_out_routed_messages_total',
  'alcor_scale_out_routed_records_total',
  'alcor_scale_out_route_transactions_total',
  'alcor_scale_out_route_paced_cuts_total',
  'alcor_scale_out_applied_records_total',
  'alcor_scale_out_route_worker_restarts_total',
  'alcor_scale_out_runs_not_served_total',
  'alcor_scale_out_stage_seconds_total',
] as const;

/**
 * `read` once per scrape however many metrics ask: prom-client calls every metric's collect() in one
 * synchronous pass, so a value kept until the next microtask serves exactly that pass. A member's status
 * walks its windows and the route's counters, and was built once per metric (11 times a scrape).
 */
export function oncePerScrape<T>(read: () => T): () => T {
  let kept: { value: T } | null = null;
  return () => {
    if (kept === null) {
      kept = { value: read() };
      queueMicrotask(() => {
        kept = null;
      });
    }
    return kept.value;
  };
}

export function registerScaleOutMetrics(registry: Registry, readStatus: () => MemberStatus): void {
  const status = oncePerScrape(readStatus);
  const gauge = (name: (typeof SCALE_OUT_METRICS)[number], help: string, value: (s: MemberStatus) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value(status()));
      },
    });
  };
  gauge('alcor_scale_out_partitions_owned', 'By-VM partitions whose windows this member holds', (s) => s.partitions.length);
  gauge('alcor_scale_out_vms_owned', 'VMs held in the windows of this member\'s partitions', (s) => s.vms);
  gauge('alcor_scale_out_changelog_lag', 'By-VM messages (offsets) applied by this member but not yet in a checkpoint', (s) => s.changelogLag);
  gauge('alcor_scale_out_leader', '1 while this member is the leader (gathers ticks, runs the clustering)', (s) => (s.leader ? 1 : 0));
  gauge('alcor_scale_out_leaderships', 'Times this member took the leadership (first, or after another member published a run): a failover moves it up by one somewhere', (s) => s.leaderships);
  // The member counts; each scrape adds what happened since the last.
  const counter = (name: (typeof SCALE_OUT_METRICS)[number], help: string, value: (s: MemberStatus) => number): void => {
    let reported = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const now = value(status());
        if (now > reported) this.inc(now - reported);
        reported = now;
      },
    });
  };
  counter('alcor_scale_out_routed_messages_total', 'Input messages this member routed (their transaction committed)', (s) => s.routedMessages);
  counter('alcor_scale_out_routed_records_total', 'By-VM records (flow halves, VM attributes) this member\'s routers wrote', (s) => s.routedRecords);
  counter('alcor_scale_out_route_transactions_total', 'Route transactions this member committed (a batch of an input partition, or a flush of released flows)', (s) => s.routeTransactions);
  counter('alcor_scale_out_route_paced_cuts_total', 'Batches of a flows partition this member\'s routers cut, a bucket ahead of the slowest router, their rest held until it caught up', (s) => s.routePacedCuts);
  counter('alcor_scale_out_applied_records_total', 'By-VM records (flow halves, VM attributes) this member\'s windows applied', (s) => s.appliedRecords);
  counter('alcor_scale_out_route_worker_restarts_total', 'Route workers this member started again after one ended unasked (the member not ready meanwhile)', (s) => s.routeWorkerRestarts);
  // The same with labels: `totals` gives each label set's total, keyed by the labels' values.
  const labelledCounter = <L extends string>(name: (typeof SCALE_OUT_METRICS)[number], help: string, labelNames: readonly L[], totals: (s: MemberStatus) => Array<[Record<L, string>, number]>): void => {
    const reported = new Map<string, number>();
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        for (const [labels, now] of totals(status())) {
          const key = labelNames.map((l) => labels[l]).join('/');
          const delta = now - (reported.get(key) ?? 0);
          if (delta > 0) this.inc(labels, delta);
          reported.set(key, now);
        }
      },
    });
  };
  labelledCounter(
    'alcor_scale_out_runs_not_served_total',
    'Records of the runs topic this member did not serve, by reason: unreadable (no format it reads), torn (a run with a chunk missing or not matching its header)',
    ['reason'],
    (s) => RUN_NOT_SERVED_REASONS.map((reason) => [{ reason }, s.runsNotServed[reason]]),
  );
  // Where each stage's batch loop spends its wall time: the phase that grows fastest is the one to cut.
  labelledCounter(
    'alcor_scale_out_stage_seconds_total',
    'Wall time of the route and window stages\' batch loops, by phase: fetch_wait (waiting for the next batch), route, dead_letters, send, offsets, commit (route); apply, publish (window)',
    ['stage', 'phase'],
    ({ stageSeconds: { route, window } }) => [
      ...ROUTE_PHASES.map((phase): [Record<'stage' | 'phase', string>, number] => [{ stage: 'route', phase }, route[phase]]),
      ...WINDOW_PHASES.map((phase): [Record<'stage' | 'phase', string>, number] => [{ stage: 'window', phase }, window[phase]]),
    ],
  );
  labelledCounter(
    'alcor_scale_out_restores_total',
    'By-VM partitions this member took, by where their windows came from: local (the STATE_DIR copy), changelog, input (no checkpoint yet), rebuilt (the checkpoint did not match or decode: rebuilt from the input)',
    ['from'],
    (s) => RESTORE_SOURCES.map((from) => [{ from }, s.restores[from]]),
  );
}
