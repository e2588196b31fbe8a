/**
 * Security groups (issue 15): the goal on generated traces over several seeds, the distribution of rules
 * per cluster and service port, and the cost of computing them against a clustering run of the same size,
 * measured in the same process, up to 100k VMs.
 *
 *   npx tsx bench/security-groups-bench.ts [--seeds 101,102,103] [--vms 600] [--scale 10000,100000] [--ports spread|stable] [--security standard|hard]
 *   npm run bench -- security-groups     (the same with the defaults, as a section of bench/results/latest.json)
 *   npx tsx bench/security-groups-bench.ts --merge a/bench/results/security-groups.json,b/... --scale none
 *                                        (runs of disjoint seeds, each from its own directory, as one results file)
 *
 * Goal: each seed's trace (TraceGenerator, 45 minutes) is replayed; the rules learned from all but the
 * last window are checked against it (src/security-groups/goal.ts). Cost: the connections and membership
 * of the first seed's replay are copied per replica (each replica's VMs, tenants and addresses renamed, so
 * the copies are disjoint fleets) up to the target number of VMs, and the security groups are computed on
 * them step by step as the service does (recommendInSlices: the whole, and the longest step, which is what
 * holds the event loop), twice as two runs of the service: the first at a watermark one epoch before the
 * source's, without the connections first seen in the latest window and with half the latest traffic of the
 * others; then those records are added and the watermark moved one epoch, and the second is timed (it
 * reuses the first's tables and what the log kept of its split, as a service's next run does; the first's
 * figures and what changed between the two are beside them), then their document, built on the first request,
 * timed on its own; the same seed's fleet snapshot, replicated to the same size (replicateSnapshot of
 * the scale bench), is clustered once through the worker threads and once inline, for the run the cost is
 * a share of. Wall and CPU time both: on a shared machine the CPU time is the steadier. The command line
 * writes bench/results/security-groups.json (`--scale none` keeps its cost figures) and the same figures as
 * the `security_groups` section of bench/results/latest.json, as `npm run bench -- security-groups` does.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../src/config/pipeline-options.ts';
import { emptyFlowRecord } from '../src/contract/records.ts';
import { probesOf, scannersOf, TraceGenerator } from '../src/generator/index.ts';
import type { PortPlan, SecurityPlan } from '../src/generator/types.ts';
import { replayTrace } from '../src/replay/replay.ts';
import { ConnectionLog, type ConnectionSplit, EPOCHS_PER_WINDOW } from '../src/security-groups/connection-log.ts';
import { exactPortsGoalFigures, goalFigures } from '../src/security-groups/goal.ts';
import { KeptVerdicts } from '../src/security-groups/kept-verdicts.ts';
import { LearnedEntries } from '../src/security-groups/learned-entries.ts';
import { membershipOf } from '../src/runs/membership.ts';
import { type Membership, recommendInSlices, type ResolvedConnection } from '../src/security-groups/recommend.ts';
import type { RunInput } from '../src/runs/run-input.ts';
import { runClustering } from '../src/runs/clustering-run.ts';
import { WorkerClusterer } from '../src/service/clusterer.ts';
import { replicateRunInput } from './scale-bench.ts';

export interface SecurityGroupsBenchOptions {
  seeds: readonly number[];
  vms: number;
  /** Fleet sizes the cost is measured at; none: no cost figures. */
  scales: readonly number[];
  /** The traces' port plan: `spread` (services over port ranges, docs/security-groups.md "Goal figures"). */
  ports: PortPlan;
  /**
   * `hard`: scanners inside client groups, probes with data, tenants with port ranges of their own (the
   * generator's security plan); `standard`: scanners apart, as the committed fixtures have them.
   */
  security: SecurityPlan;
}

/**
 * Seeds 1-5 calibrated the spread plan's volumes (SPREAD_CALLS), seeds 1-20 the learner's placing of VMs
 * without history and its tie-break of listening ports; these were used for neither.
 */
export const defaultSecurityGroupsBench: SecurityGroupsBenchOptions = {
  seeds: Array.from({ length: 20 }, (_, k) => 101 + k),
  vms: 600,
  scales: [10_000, 100_000],
  ports: 'spread',
  security: 'standard',
};

export interface Source {
  membership: Membership;
  connections: ResolvedConnection[];
  windowMs: number;
  snapshot: RunInput;
}

function histogram(values: readonly number[]): Record<string, number> {
  const h: Record<string, number> = {};
  for (const v of values) h[String(v)] = (h[String(v)] ?? 0) + 1;
  return h;
}

const round = (x: number): number => Math.round(x);
const cpuMsSince = (c: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(c);
  return (used.user + used.system) / 1000;
};

/** A replicated fleet as the service sees it at two runs: the log and membership of the first, then the next. */
export interface ReplicatedFleet {
  membership: Membership;
  log: ConnectionLog;
  /**
   * Adds the next epoch's records to the log (the connections new in the latest window, held back until
   * now, and the second half of those that went on talking) and returns the membership at a watermark one
   * epoch on, as the service's next run is (it runs every few minutes; an epoch is a quarter window).
   */
  nextEpoch(): { membership: Membership; records: number; rowsAdded: number; watermarkAdvancedMs: number };
}

/**
 * The source fleet copied `copies` times: VM ids, tenants and addresses renamed per copy. The log holds
 * each connection's earlier traffic and, one epoch before the source's watermark, the latest traffic of
 * the connections seen before it; nextEpoch adds the rest at the source's watermark, so that after it
 * each connection's earlier and latest traffic at that watermark is the source's (its flow count capped).
 */
export function replicate(src: Source, copies: number): ReplicatedFleet {
  const m = src.membership;
  const ids: string[] = [];
  const clusters: string[] = [];
  const tenants: (string | null)[] = [];
  const scores: number[] = [];
  for (let c = 0; c < copies; c++) {
    m.vmIds.forEach((id, row) => {
      ids.push(`${id}#${c}`);
      clusters.push(m.clusterIds[row]!);
      const t = m.vmTenants[row] ?? null;
      tenants.push(t === null ? null : `${t}#${c}`);
      scores.push(m.anomalyScores?.[row] ?? 0);
    });
  }
  const log = new ConnectionLog(src.windowMs, Number.MAX_SAFE_INTEGER);
  const epochMs = log.epochMs;
  const end = m.computedAt;
  const before = end - epochMs;
  const earlierTs = end - (EPOCHS_PER_WINDOW + 1) * epochMs;
  const f = emptyFlowRecord();
  const ip = (a: string, c: number): string => (a.includes(':') ? `${a}:${c.toString(16)}`.replace(/::.*$/, `::${c.toString(16)}`) : `${a}|${c}`);
  const add = (c: number, k: ResolvedConnection, ts: number, bytes: number): void => {
    f.srcVm = k.client.vmId === null ? null : `${k.client.vmId}#${c}`;
    f.dstVm = k.server.vmId === null ? null : `${k.server.vmId}#${c}`;
    f.srcIp = ip(k.client.ip, c);
    f.dstIp = ip(k.server.ip, c);
    f.srcPort = k.port < 0 ? -1 : 50_000;
    f.dstPort = k.port;
    f.protocol = k.protocol;
    f.ts = ts;
    f.bytes = bytes;
    log.add(f);
  };
  // A connection first seen in the latest window waits for the next epoch; one seen before and still
  // talking sends half its latest bytes before (one record) and, with two flows or more, half after.
  const heldBack = (k: ResolvedConnection): boolean => k.earlierFlows === 0;
  for (let c = 0; c < copies; c++) {
    for (const k of src.connections) {
      // Flow counts capped (each copy's record is added, not its count): the cost is in the connections.
      for (let i = 0; i < Math.min(k.earlierFlows, 3); i++) add(c, k, earlierTs, k.earlierBytes / Math.min(k.earlierFlows, 3));
      if (k.latestFlows > 0 && !heldBack(k)) add(c, k, before, k.latestFlows >= 2 ? k.latestBytes / 2 : k.latestBytes);
    }
  }
  const membership: Membership = { ...m, runId: 'replicated', computedAt: before, vmIds: ids, clusterIds: clusters, vmTenants: tenants, anomalyScores: Float64Array.from(scores) };
  return {
    membership,
    log,
    nextEpoch: () => {
      const rowsBefore = log.size;
      let records = 0;
      for (let c = 0; c < copies; c++) {
        for (const k of src.connections) {
          if (k.latestFlows === 0) continue;
          if (heldBack(k)) add(c, k, end, k.latestBytes);
          else if (k.latestFlows >= 2) add(c, k, end, k.latestBytes / 2);
          else continue;
          records++;
        }
      }
      return { membership: { ...membership, computedAt: end }, records, rowsAdded: log.size - rowsBefore, watermarkAdvancedMs: end - before };
    },
  };
}

/** The split a log takes next, caught as it is taken: how many rows it renewed rather than kept. */
function watchSplits(log: ConnectionLog): () => ConnectionSplit | null {
  let last: ConnectionSplit | null = null;
  const split = log.split.bind(log);
  // Only the bench looks: the service and the learner have no use for the count (SplitTraffic's worth).
  log.split = (watermark, buffers) => {
    last = split(watermark, buffers);
    return last;
  };
  return () => last;
}

export interface Stepped<T> {
  value: T;
  ms: number;
  cpuMs: number;
  steps: number;
  firstMs: number;
  firstCpuMs: number;
  longestMs: number;
  longestCpuMs: number;
  /** Heap grown while it ran (sampled every 16 steps), MB. */
  heapMb: number;
  /** Every step: when it started (epoch ms), its wall and CPU time (ms). */
  each: Array<{ at: number; ms: number; cpuMs: number }>;
}

/** Steps by CPU time (ms), the buckets the goal of about 10 ms a step is read against. */
export function stepHistogram(each: ReadonlyArray<{ cpuMs: number }>): Record<string, number> {
  const bounds = [1, 2, 5, 10, 20, 50, 100];
  const h: Record<string, number> = {};
  for (let b = 0; b <= bounds.length; b++) h[b === bounds.length ? `>=${bounds[b - 1]}` : `<${bounds[b]}`] = 0;
  for (const { cpuMs } of each) {
    const b = bounds.findIndex((x) => cpuMs < x);
    h[b < 0 ? `>=${bounds[bounds.length - 1]}` : `<${bounds[b]}`]!++;
  }
  return h;
}

/**
 * Runs a sliced computation step by step as the service does (src/service/cluster-service.ts): the whole
 * and its longest step, which is what holds the event loop (the first apart: it takes the split).
 */
export function stepped<T>(start: () => Generator<void, T, void>): Stepped<T> {
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const steps = start();
  const cpu = process.cpuUsage();
  const started = performance.now();
  let longest = 0;
  let longestCpu = 0;
  let first = 0;
  let firstCpu = 0;
  let count = 0;
  let heapPeak = 0;
  const each: Array<{ at: number; ms: number; cpuMs: number }> = [];
  for (;;) {
    const at = Date.now();
    const s = performance.now();
    const c = process.cpuUsage();
    const step = steps.next();
    const ms = performance.now() - s;
    const cpuMs = cpuMsSince(c);
    each.push({ at, ms, cpuMs });
    if (count === 0) {
      first = ms;
      firstCpu = cpuMs;
    } else {
      longest = Math.max(longest, ms);
      longestCpu = Math.max(longestCpu, cpuMs);
    }
    count++;
    if (count % 16 === 0) heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
    if (step.done === true) {
      return {
        value: step.value,
        ms: performance.now() - started,
        cpuMs: cpuMsSince(cpu),
        steps: count,
        firstMs: first,
        firstCpuMs: firstCpu,
        longestMs: longest,
        longestCpuMs: longestCpu,
        heapMb: round((Math.max(heapPeak, process.memoryUsage().heapUsed) - heapBefore) / 1e6),
        each,
      };
    }
  }
}

/** The goal per seed, the rule distributions, and the cost against a run at each of `scales` VMs. */
export async function benchSecurityGroups(o: SecurityGroupsBenchOptions = defaultSecurityGroupsBench): Promise<Record<string, unknown>> {
  const defaults = PipelineOptions.parse({});
  const options = { pipeline: toPipelineConfig(defaults), run: toRunOptions(defaults) };
  const dir = mkdtempSync(join(tmpdir(), 'sg-bench-'));
  const goal: Array<Record<string, unknown>> = [];
  let source: Source | null = null;
  const rulesPerGroupPort: number[] = [];
  const rulesPerTenant: number[] = [];
  try {
    for (const seed of o.seeds) {
      const gen = new TraceGenerator({ name: `sg-${seed}`, seed, vms: o.vms, tenants: Math.round(o.vms / 12), minutes: 45, ports: o.ports, security: o.security });
      const path = join(dir, `sg-${seed}.jsonl`);
      writeFileSync(path, `${[...gen.lines()].join('\n')}\n`);
      const truth = gen.truth();
      const scanners = scannersOf(truth);
      const out = await replayTrace(path, options);
      const sg = out.securityGroups!;
      const g = goalFigures(sg.connections, sg.document, scanners, probesOf(truth, gen.probes));
      // The baseline of the issue: rules per exact port and peer group (no ranges), on the same connections.
      const ge = exactPortsGoalFigures(membershipOf(out.lastRun!), out.pipeline.connections, scanners, probesOf(truth, gen.probes));
      const s = sg.document.summary;
      for (const t of sg.document.tenants) {
        rulesPerTenant.push(t.rule_count);
        const per = new Map<string, number>();
        for (const gr of t.security_groups)
          for (const r of gr.security_group_rules) {
            const k = `${gr.id}|${r.direction}|${r.protocol}|${r.port_range_min}|${r.port_range_max}`;
            per.set(k, (per.get(k) ?? 0) + 1);
          }
        rulesPerGroupPort.push(...per.values());
      }
      goal.push({
        seed,
        vms: out.result.stats.vms_live,
        tenants: s.tenants,
        scanners: scanners.size,
        ...g,
        share_normal_bytes_allowed: g.share_normal_bytes_allowed === null ? null : Number(g.share_normal_bytes_allowed.toFixed(5)),
        share_normal_flows_allowed: g.share_normal_flows_allowed === null ? null : Number(g.share_normal_flows_allowed.toFixed(5)),
        share_normal_services_allowed: g.share_normal_services_allowed === null ? null : Number(g.share_normal_services_allowed.toFixed(5)),
        vms_placed_by_peers: sg.document.tenants.reduce((n, t) => n + t.security_groups.reduce((m, gr) => m + (gr.vms_placed_by_peers?.length ?? 0), 0), 0),
        exact_ports_only_share_normal_bytes_allowed: ge.share_normal_bytes_allowed === null ? null : Number(ge.share_normal_bytes_allowed.toFixed(5)),
        exact_ports_only_rules: ge.rules,
        check_all_share_bytes_allowed: s.check.share_bytes_allowed,
        check_all_share_flows_allowed: s.check.share_flows_allowed,
        anomalous_vms_not_learned: s.vms_anomalous,
        security_groups_ms: round(sg.durationMs),
        final_run_ms: round(out.lastRun!.durationMs),
      });
      process.stderr.write(`  security groups: ${JSON.stringify(goal[goal.length - 1])}\n`);
      if (source === null) source = { membership: membershipOf(out.lastRun!), connections: sg.connections, windowMs: out.lastRun!.windowMs, snapshot: out.pipeline.runInput() };
      rmSync(path);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const cost: Array<Record<string, unknown>> = [];
  if (o.scales.length > 0 && source !== null) {
    const clusterer = new WorkerClusterer();
    try {
      // The service's workers are long-lived: one untimed run first, so that thread start-up is not counted.
      await clusterer.run(replicateRunInput(source.snapshot, source.snapshot.vmIds.length, 1), 'warm-up', options.run);
      for (const target of o.scales) {
        const copies = Math.max(1, Math.round(target / source.membership.vmIds.length));
        const rows = copies * source.membership.vmIds.length;
        const loadBefore = loadavg()[0]!;
        // The run the cost is a share of: the same fleet at the same size, through the workers and inline.
        const forWorker = replicateRunInput(source.snapshot, rows, rows);
        let t = performance.now();
        await clusterer.run(forWorker, 'bench', options.run);
        const runWallMs = performance.now() - t;
        const forInline = replicateRunInput(source.snapshot, rows, rows);
        const cpu = process.cpuUsage();
        t = performance.now();
        runClustering(forInline, 'bench', options.run);
        const runInlineMs = performance.now() - t;
        const runInlineCpuMs = cpuMsSince(cpu);

        const fleet = replicate(source, copies);
        const { log } = fleet;
        const lastSplit = watchSplits(log);
        // Twice, as two runs of the service: the first (untimed but for its figures beside) allocates the
        // learner's reusable tables and columns; then the next epoch's records come in and the watermark moves
        // one epoch, and the second, timed, reuses the tables and what the log kept of the first's split.
        // Then the document, built in steps on the first request.
        const cold = stepped(() => recommendInSlices(fleet.membership, log));
        const rowsAtFirst = log.size;
        // As the service does when a newer run's rules replace these: their columns go to the next computation.
        cold.value.release();
        const next = fleet.nextEpoch();
        const warm = stepped(() => recommendInSlices(next.membership, log));
        const renewed = lastSplit()?.renewed ?? null;
        const scan = LearnedEntries.lastScan;
        const check = KeptVerdicts.lastCheck;
        const doc = stepped(() => warm.value.documentInSlices());
        const summary = warm.value.summary;
        const row = {
          vms: rows,
          connections: log.size,
          rules: summary.rules,
          rules_per_group_port: summary.rules_per_group_port,
          security_groups_ms: round(warm.ms),
          security_groups_cpu_ms: round(warm.cpuMs),
          steps: warm.steps,
          first_step_ms: round(warm.firstMs),
          first_step_cpu_ms: round(warm.firstCpuMs),
          longest_other_step_ms: round(warm.longestMs),
          longest_other_step_cpu_ms: round(warm.longestCpuMs),
          step_cpu_ms_histogram: stepHistogram(warm.each),
          first_computation: { ms: round(cold.ms), cpu_ms: round(cold.cpuMs), longest_step_cpu_ms: round(Math.max(cold.firstCpuMs, cold.longestCpuMs)), connections: rowsAtFirst },
          // What changed between the two computations: the second's figures are worth what it could keep.
          between_computations: {
            watermark_advanced_ms: next.watermarkAdvancedMs,
            records_added: next.records,
            rows_added: next.rowsAdded,
            rows_renewed: renewed,
            rows_kept: renewed === null ? null : log.size - renewed,
            // The learner's entries kept from the first (learned-entries.ts): the rows it filed again.
            entries_from_scratch: scan?.fromScratch ?? null,
            rows_filed_again: scan?.rowsFiledAgain ?? null,
            // The check's verdicts kept from the first (kept-verdicts.ts): rows with traffic in the check window, those judged again.
            rows_checked: check?.rows ?? null,
            rows_judged_again: check?.judged ?? null,
          },
          document: { ms: round(doc.ms), cpu_ms: round(doc.cpuMs), steps: doc.steps, longest_step_cpu_ms: round(Math.max(doc.firstCpuMs, doc.longestCpuMs)) },
          run_wall_ms: round(runWallMs),
          run_inline_ms: round(runInlineMs),
          run_inline_cpu_ms: round(runInlineCpuMs),
          share_of_run_wall: Number((warm.ms / runWallMs).toFixed(3)),
          share_of_run_inline: Number((warm.ms / runInlineMs).toFixed(3)),
          cpu_share_of_run_inline: Number((warm.cpuMs / runInlineCpuMs).toFixed(3)),
          cpu_share_with_document: Number(((warm.cpuMs + doc.cpuMs) / runInlineCpuMs).toFixed(3)),
          heap_mb_during: warm.heapMb,
          load_average: [Number(loadBefore.toFixed(2)), Number(loadavg()[0]!.toFixed(2))],
        };
        cost.push(row);
        process.stderr.write(`  security groups: ${JSON.stringify(row)}\n`);
      }
    } finally {
      await clusterer.close();
    }
  }
  return {
    method:
      'goal: TraceGenerator traces (45 minutes), rules learned from all but the last window checked against it; cost: the first seed\'s connections and fleet replicated per copy (disjoint VMs, tenants, addresses), the security groups computed step by step as the service does (twice, as two runs of a service: the first at a watermark one epoch earlier without the connections new in the latest window and with half the latest traffic of the others, then those records added and the watermark moved one epoch; the figures are those of the second computation, which reuses the tables and the kept split of the first as the later runs of a service do; between_computations says what changed; the document built on request timed apart), and a clustering run of the same replicated fleet timed in the same process (workers, then inline)',
    ports: o.ports,
    security: o.security,
    goal,
    goal_summary: goalSummary(goal),
    rules_per_group_port_histogram: histogram(rulesPerGroupPort),
    rules_per_tenant: { histogram: histogram(rulesPerTenant) },
    cost,
  };
}

/** Mean and worst over the seeds of the shares the goal is about, and the probes allowed in all. */
function goalSummary(goal: ReadonlyArray<Record<string, unknown>>): Record<string, number | null> {
  const stats = (key: string): { mean: number | null; worst: number | null } => {
    const xs = goal.map((g) => g[key]).filter((x): x is number => typeof x === 'number');
    if (xs.length === 0) return { mean: null, worst: null };
    return { mean: Number((xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(5)), worst: Math.min(...xs) };
  };
  const learned = stats('share_normal_bytes_allowed');
  const exact = stats('exact_ports_only_share_normal_bytes_allowed');
  const byFlows = stats('share_normal_flows_allowed');
  const byService = stats('share_normal_services_allowed');
  const sum = (key: string): number => goal.reduce((a, g) => a + (typeof g[key] === 'number' ? (g[key] as number) : 0), 0);
  return {
    seeds: goal.length,
    mean_share_normal_bytes_allowed: learned.mean,
    worst_share_normal_bytes_allowed: learned.worst,
    exact_ports_only_mean_share_normal_bytes_allowed: exact.mean,
    exact_ports_only_worst_share_normal_bytes_allowed: exact.worst,
    // Beside the byte measure, which one heavy connection moves by points: by flows and by service.
    mean_share_normal_flows_allowed: byFlows.mean,
    worst_share_normal_flows_allowed: byFlows.worst,
    mean_share_normal_services_allowed: byService.mean,
    worst_share_normal_services_allowed: byService.worst,
    probes: sum('probes'),
    probes_allowed: sum('probes_allowed'),
  };
}

/** Results files of this script as one: goal rows in file order, histograms summed, the summary computed again. */
function mergeResults(files: readonly string[]): Record<string, unknown> {
  type Results = { command: string; method: string; ports: string; goal: Array<Record<string, unknown>>; rules_per_group_port_histogram: Record<string, number>; rules_per_tenant: { histogram: Record<string, number> } };
  const parts = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Results);
  const sum = (hs: ReadonlyArray<Record<string, number>>): Record<string, number> => {
    const h: Record<string, number> = {};
    for (const x of hs) for (const [k, n] of Object.entries(x)) h[k] = (h[k] ?? 0) + n;
    return h;
  };
  const goal = parts.flatMap((p) => p.goal);
  return {
    commands: parts.map((p) => p.command),
    method: parts[0]!.method,
    ports: parts[0]!.ports,
    goal,
    goal_summary: goalSummary(goal),
    rules_per_group_port_histogram: sum(parts.map((p) => p.rules_per_group_port_histogram)),
    rules_per_tenant: { histogram: sum(parts.map((p) => p.rules_per_tenant.histogram)) },
    cost: [],
  };
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

// Run as a script (not imported by bench/run.ts): the options from the command line, the results file.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const seeds = arg('seeds', defaultSecurityGroupsBench.seeds.join(',')).split(',').map(Number);
  const vms = Number(arg('vms', String(defaultSecurityGroupsBench.vms)));
  /** `--scale none` keeps the cost figures of the previous results file. */
  const scaleArg = arg('scale', defaultSecurityGroupsBench.scales.join(','));
  const scales = scaleArg === 'none' ? [] : scaleArg.split(',').map(Number);
  const ports = arg('ports', defaultSecurityGroupsBench.ports) as PortPlan;
  const security = arg('security', defaultSecurityGroupsBench.security) as SecurityPlan;
  // `--merge a.json,b.json`: the goal rows of earlier runs of this script (seeds run in parallel, each from
  // its own directory) as one results file, their summary computed again; no trace is replayed.
  const merge = arg('merge', '');
  const figures = merge === '' ? await benchSecurityGroups({ seeds, vms, scales, ports, security }) : mergeResults(merge.split(','));
  if (scales.length === 0) {
    // The newest cost figures: latest.json's section (`npm run bench -- security-groups` writes only there), else this file's.
    for (const [file, read] of [
      ['bench/results/latest.json', (x: unknown) => (x as { security_groups?: { cost?: unknown } }).security_groups?.cost],
      ['bench/results/security-groups.json', (x: unknown) => (x as { cost?: unknown }).cost],
    ] as const) {
      try {
        const cost = read(JSON.parse(readFileSync(file, 'utf8')));
        if (cost !== undefined) {
          figures.cost = cost;
          break;
        }
      } catch {
        // No previous figures there.
      }
    }
  }
  const command =
    merge === ''
      ? `npx tsx bench/security-groups-bench.ts --seeds ${seeds.join(',')} --vms ${vms} --scale ${scaleArg} --ports ${ports} --security ${security}`
      : (figures.commands as string[]).join(' ; ');
  const result = { started: new Date().toISOString(), command, ...figures };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/security-groups.json', `${JSON.stringify(result, null, 2)}\n`);
  let latest: Record<string, unknown> = {};
  try {
    latest = JSON.parse(readFileSync('bench/results/latest.json', 'utf8')) as Record<string, unknown>;
  } catch {
    // No results file yet: this section alone.
  }
  const { started, ...section } = result;
  writeFileSync('bench/results/latest.json', `${JSON.stringify({ ...latest, security_groups: section, security_groups_measured: started }, null, 2)}\n`);
}
