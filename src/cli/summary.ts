/** The text summary a replay prints: what went in, what was rejected and why, and tables of what came out. */
import Table from 'cli-table3';
import { LIMIT_STATS, type ReplayOutcome, SUPERSEDED_STATS } from '../replay/replay.ts';
import type { PlacementAdvice } from '../placement/types.ts';
import type { SideSummary } from '../runs/result.ts';
import type { SecurityGroupsSummary } from '../security-groups/types.ts';

const fmt = (n: number): string => n.toLocaleString('en-US');

export function formatReplaySummary(o: ReplayOutcome): string {
  const { result, timings } = o;
  const s = result.stats;
  const records = (s.flow_records ?? 0) + (s.vm_attribute_records ?? 0) + (s.tenant_attribute_records ?? 0);
  const rate = records / (timings.totalMs / 1000);
  const lines: string[] = [];
  lines.push(
    `replayed ${fmt(s.lines ?? 0)} lines, ${fmt(records)} records (${fmt(s.flow_records ?? 0)} flows) in ${(timings.totalMs / 1000).toFixed(2)} s (${fmt(Math.round(rate))} records/s; clustering ${(timings.clusteringMs / 1000).toFixed(2)} s over ${o.runs} runs)`,
  );
  const by = Object.entries(result.rejected.by_reason).map(([r, n]) => `${r} ${fmt(n ?? 0)}`);
  lines.push(`rejected ${fmt(result.rejected.count)}${by.length ? `: ${by.join(', ')}` : ''}`);
  // Every record not applied is shown: rejected above, superseded (valid but older than what is held) here.
  const counted = (names: readonly string[]) => names.filter((n) => (s[n] ?? 0) > 0).map((n) => `${n} ${fmt(s[n]!)}`);
  const superseded = counted(SUPERSEDED_STATS);
  if (superseded.length > 0) lines.push(`not applied, superseded by newer state ${fmt(SUPERSEDED_STATS.reduce((a, n) => a + (s[n] ?? 0), 0))}: ${superseded.join(', ')}`);
  const limits = counted(LIMIT_STATS);
  if (limits.length > 0) lines.push(`limits reached: ${limits.join(', ')} (docs/operations.md "Bounded resources")`);
  const run = result.run;
  if (run === null) {
    lines.push('no clustering run: the trace held no usable flows');
    return `${lines.join('\n')}\n`;
  }
  lines.push(`as of ${run.computed_at} (window ${run.window_minutes} min): ${fmt(s.vms_live ?? 0)} VMs, ${fmt(s.tenants_live ?? 0)} tenants`);
  for (const [label, side] of [['VM', run.vms], ['tenant', run.tenants]] as const) {
    const q = side.quality;
    lines.push(
      `${label} clusters: ${q.k} (${side.algorithm}${q.silhouette === null ? '' : `, silhouette ${q.silhouette.toFixed(3)}`}${q.noise ? `, noise ${q.noise}` : ''})`,
    );
    lines.push(clusterTable(side, label === 'VM' ? 'VMs' : 'tenants'));
  }
  const top = result.anomalies.slice(0, 5).map((a) => `${a.vm_id} ${a.score}`);
  if (top.length > 0) lines.push(`most anomalous: ${top.join(', ')}`);
  const groups = new Set(Object.values(result.affinity_groups)).size;
  if (groups > 0) lines.push(`affinity groups: ${fmt(groups)}`);
  const placement = placementLines(result.placement, o.lastRun?.vms.outcome.timings.placement);
  lines.push(...placement);
  const sg = result.security_groups?.summary;
  if (sg) lines.push(...securityGroupLines(sg, timings.securityGroupsMs));
  return `${lines.join('\n')}\n`;
}

/** The placement advice in a few lines: what it saves, the first moves, or why there are none. */
export function placementLines(p: PlacementAdvice | null, ms: number | undefined): string[] {
  if (p === null) return [];
  const { before, after } = p.cross_host_bytes_per_minute;
  const share = before > 0 ? ` (${(((before - after) / before) * 100).toFixed(1)}%)` : '';
  const cost = ms === undefined ? '' : `, computed in ${ms.toFixed(0)} ms`;
  if (p.moves.length === 0) return [`placement: no moves (${p.no_moves_reason}); cross-host traffic ${fmt(Math.round(before))} B/min${cost}`];
  const out = [
    `placement: ${p.migrations} migrations (budget ${p.max_moves}, ${p.strategy}) cut cross-host traffic ${fmt(Math.round(before))} -> ${fmt(Math.round(after))} B/min${share}${cost}`,
  ];
  const w = p.weighted_cost;
  // With tiers the moves were chosen by weighted cost, which a move within a rack cuts without cutting cross-host bytes.
  if (w !== undefined)
    out.push(
      `  tiers (${w.rack_label}/${w.zone_label}, distances ${w.distances.same_rack}/${w.distances.same_zone}/${w.distances.across_zones}): weighted cost ${fmt(Math.round(w.before))} -> ${fmt(Math.round(w.after))} B/min x distance`,
    );
  // One line per step: a pair brought onto a third host is two moves that only save together.
  const steps = new Map<number, PlacementAdvice['moves']>();
  for (const m of p.moves) steps.set(m.step, [...(steps.get(m.step) ?? []), m]);
  for (const moves of [...steps.values()].slice(0, 5)) {
    const saved = moves.reduce((sum, m) => sum + m.bytes_per_minute_saved, 0);
    const what = moves.map((m) => `${m.vm_ids.join(', ')}: ${m.from_host} -> ${m.to_host}`).join(' and ');
    const better = moves[0]!.better_blocked;
    const weighted = w === undefined ? '' : ` cross-host, ${fmt(Math.round(moves.reduce((sum, m) => sum + (m.cost_saved ?? 0), 0)))} weighted`;
    out.push(`  ${what} saves ${fmt(Math.round(saved))} B/min${weighted}${better ? ` (better: ${better.to_host}, stopped by ${better.constraint})` : ''}`);
  }
  if (steps.size > 5) out.push(`  ... ${steps.size - 5} more steps`);
  return out;
}

const pct = (share: number | null): string => (share === null ? 'n/a' : `${(100 * share).toFixed(2)}%`);

/** The recommended security groups in two lines: how many rules, and what the check against the latest window found. */
function securityGroupLines(sg: SecurityGroupsSummary, ms: number): string[] {
  const c = sg.check;
  return [
    `security groups: ${fmt(sg.groups)} groups, ${fmt(sg.rules)} rules over ${fmt(sg.tenants)} tenants (per tenant median ${sg.rules_per_tenant.median}, max ${sg.rules_per_tenant.max}; per group and port max ${sg.rules_per_group_port.max}), ${fmt(sg.vms_anomalous)} anomalous VMs not learned from, ${(ms / 1000).toFixed(2)} s`,
    `  checked against the latest window: ${pct(c.share_flows_allowed)} of flows and ${pct(c.share_bytes_allowed)} of bytes allowed (normal VM-to-VM: ${pct(sg.check_normal_vm_to_vm.share_bytes_allowed)} of bytes), ${fmt(c.flows_denied)} flows denied, ${fmt(sg.check_from_anomalous.flows_denied)} of them from anomalous VMs`,
  ];
}

/** One row per cluster: id, size, suggested name, the three features that set it apart most. */
export function clusterTable(side: SideSummary, members: string): string {
  const named = side.clusters.some((c) => c.name !== undefined);
  const head = named ? ['cluster', members, 'name', 'sets it apart (value, z)'] : ['cluster', members, 'sets it apart (value, z)'];
  const table = new Table({
    head,
    // Plain text: the summary often lands in files and CI logs, where colour codes are noise.
    style: { head: [], border: [], compact: true, 'padding-left': 1, 'padding-right': 1 },
    colAligns: named ? ['left', 'right', 'left', 'left'] : ['left', 'right', 'left'],
    // About 120 columns: long names and traits wrap inside their cell instead of widening the table.
    colWidths: named ? [12, 9, 30, 66] : [12, 9, 96],
    wordWrap: true,
  });
  for (const c of side.clusters) {
    const traits = c.distinguishing
      .slice(0, 3)
      .map((d) => `${d.feature} ${fmtValue(d.value)} (${d.z > 0 ? '+' : ''}${d.z.toFixed(1)}σ)`)
      .join(', ');
    table.push(named ? [c.cluster_id, fmt(c.size), c.name ?? '', traits] : [c.cluster_id, fmt(c.size), traits]);
  }
  return table.toString();
}

function fmtValue(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);
}
