/**
 * Security groups (issue 15): the goal on generated traces over several seeds, the rule-count
 * distribution, and the cost of computing them against a clustering run, up to 100k VMs.
 *
 *   npx tsx bench/security-groups-bench.ts [--seeds 101,102,103] [--vms 600] [--scale 10000,100000]
 *
 * Goal: each seed's trace (TraceGenerator, 45 minutes) is replayed; the rules learned from all but the
 * last window are checked against it (src/security-groups/goal.ts). Cost: the connections and membership
 * of the first seed's replay are copied per replica (each replica's VMs, tenants and addresses renamed, so
 * the copies are disjoint fleets) up to the target number of VMs, and recommendSecurityGroups is timed on
 * them; a run at that size is taken from bench/results/latest.json (scale.sizes, run_wall_ms and
 * run_inline_ms). Writes bench/results/security-groups.json (`--scale none` keeps its cost figures).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../src/config/pipeline-options.ts';
import { emptyFlowRecord } from '../src/contract/records.ts';
import { TraceGenerator } from '../src/generator/index.ts';
import { replayTrace } from '../src/replay/replay.ts';
import { ConnectionLog, EPOCHS_PER_WINDOW } from '../src/security-groups/connection-log.ts';
import { goalFigures } from '../src/security-groups/goal.ts';
import { type Membership, membershipOf, recommendSecurityGroups, type ResolvedConnection } from '../src/security-groups/recommend.ts';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const seeds = arg('seeds', '101,102,103,104,105').split(',').map(Number);
const vms = Number(arg('vms', '600'));
/** `--scale none` keeps the cost figures of the previous results file. */
const scaleArg = arg('scale', '10000,100000');
const scales = scaleArg === 'none' ? [] : scaleArg.split(',').map(Number);
const defaults = PipelineOptions.parse({});
const options = { pipeline: toPipelineConfig(defaults), run: toRunOptions(defaults) };
const dir = mkdtempSync(join(tmpdir(), 'sg-bench-'));

const goal: Array<Record<string, unknown>> = [];
let source: { membership: Membership; connections: ResolvedConnection[]; windowMs: number } | null = null;
const rulesPerGroupPort: number[] = [];
const rulesPerTenant: number[] = [];
try {
  for (const seed of seeds) {
    const gen = new TraceGenerator({ name: `sg-${seed}`, seed, vms, tenants: Math.round(vms / 12), minutes: 45 });
    const path = join(dir, `sg-${seed}.jsonl`);
    writeFileSync(path, `${[...gen.lines()].join('\n')}\n`);
    const truth = gen.truth();
    const scanners = new Set(Object.entries(truth.vms).filter(([, v]) => v.role === 'scanner').map(([id]) => id));
    const out = await replayTrace(path, options);
    const sg = out.securityGroups!;
    const g = goalFigures(sg.connections, sg.document, scanners);
    // The baseline of the issue: rules per exact port and peer group (no ranges), on the same connections.
    const exact = recommendSecurityGroups(membershipOf(out.lastRun!), out.pipeline.connections, { minRangePorts: Number.MAX_SAFE_INTEGER });
    const ge = goalFigures(exact.connections, exact.document, scanners);
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
      exact_ports_only_share_normal_bytes_allowed: ge.share_normal_bytes_allowed === null ? null : Number(ge.share_normal_bytes_allowed.toFixed(5)),
      exact_ports_only_rules: ge.rules,
      check_all_share_bytes_allowed: s.check.share_bytes_allowed,
      check_all_share_flows_allowed: s.check.share_flows_allowed,
      anomalous_vms_not_learned: s.vms_anomalous,
      security_groups_ms: Math.round(sg.durationMs),
      final_run_ms: Math.round(out.lastRun!.durationMs),
    });
    console.log(JSON.stringify(goal[goal.length - 1]));
    if (source === null) source = { membership: membershipOf(out.lastRun!), connections: sg.connections, windowMs: out.lastRun!.windowMs };
    rmSync(path);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function histogram(values: readonly number[]): Record<string, number> {
  const h: Record<string, number> = {};
  for (const v of values) h[String(v)] = (h[String(v)] ?? 0) + 1;
  return h;
}

/** The source fleet copied `copies` times: VM ids, tenants and addresses renamed per copy. */
function replicate(copies: number): { membership: Membership; log: ConnectionLog } {
  const src = source!;
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
  const earlierTs = end - (EPOCHS_PER_WINDOW + 1) * epochMs;
  const f = emptyFlowRecord();
  const ip = (a: string, c: number): string => (a.includes(':') ? `${a}:${c.toString(16)}`.replace(/::.*$/, `::${c.toString(16)}`) : `${a}|${c}`);
  for (let c = 0; c < copies; c++) {
    for (const k of src.connections) {
      f.srcVm = k.client.vmId === null ? null : `${k.client.vmId}#${c}`;
      f.dstVm = k.server.vmId === null ? null : `${k.server.vmId}#${c}`;
      f.srcIp = ip(k.client.ip, c);
      f.dstIp = ip(k.server.ip, c);
      f.srcPort = k.port < 0 ? -1 : 50_000;
      f.dstPort = k.port;
      f.protocol = k.protocol;
      // Flow counts capped (each copy's record is added, not its count): the cost is in the connections.
      for (let i = 0; i < Math.min(k.earlierFlows, 3); i++) {
        f.ts = earlierTs;
        f.bytes = k.earlierBytes / Math.min(k.earlierFlows, 3);
        log.add(f);
      }
      if (k.latestFlows > 0) {
        f.ts = end;
        f.bytes = k.latestBytes;
        log.add(f);
      }
    }
  }
  return {
    membership: { ...m, runId: 'replicated', vmIds: ids, clusterIds: clusters, vmTenants: tenants, anomalyScores: Float64Array.from(scores) },
    log,
  };
}

const latest = JSON.parse(readFileSync('bench/results/latest.json', 'utf8')) as { scale?: { sizes?: Array<{ vms: number; run_wall_ms?: number; run_inline_ms?: number }> } };
const cost: Array<Record<string, unknown>> = [];
for (const target of scales) {
  const copies = Math.max(1, Math.round(target / source!.membership.vmIds.length));
  const { membership, log } = replicate(copies);
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const sg = recommendSecurityGroups(membership, log);
  const run = latest.scale?.sizes?.find((s) => s.vms === target);
  const row = {
    vms: membership.vmIds.length,
    connections: log.size,
    rules: sg.document.summary.rules,
    security_groups_ms: Math.round(sg.durationMs),
    run_wall_ms: run?.run_wall_ms ?? null,
    run_inline_ms: run?.run_inline_ms ?? null,
    share_of_run_wall: run?.run_wall_ms ? Number((sg.durationMs / run.run_wall_ms).toFixed(3)) : null,
    share_of_run_inline: run?.run_inline_ms ? Number((sg.durationMs / run.run_inline_ms).toFixed(3)) : null,
    heap_mb_during: Math.round((process.memoryUsage().heapUsed - heapBefore) / 1e6),
  };
  cost.push(row);
  console.log(JSON.stringify(row));
}

if (scales.length === 0) {
  try {
    cost.push(...(JSON.parse(readFileSync('bench/results/security-groups.json', 'utf8')) as { cost: Array<Record<string, unknown>> }).cost);
  } catch {
    // No previous figures: the cost stays empty.
  }
}
const result = {
  started: new Date().toISOString(),
  command: `npx tsx bench/security-groups-bench.ts --seeds ${seeds.join(',')} --vms ${vms} --scale ${scaleArg}`,
  goal,
  rules_per_group_port_histogram: histogram(rulesPerGroupPort),
  rules_per_tenant: { histogram: histogram(rulesPerTenant) },
  cost,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/security-groups.json', `${JSON.stringify(result, null, 2)}\n`);
