/** The short text summary a replay prints: what went in, what was rejected and why, what came out. */
import type { ReplayOutcome } from '../replay/replay.ts';

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
  const by = Object.entries(result.rejected.by_reason).map(([r, n]) => `${r} ${n}`);
  lines.push(`rejected ${fmt(result.rejected.count)}${by.length ? `: ${by.join(', ')}` : ''}`);
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
    for (const c of side.clusters) {
      const traits = c.distinguishing
        .slice(0, 3)
        .map((d) => `${d.feature} ${fmtValue(d.value)} (${d.z > 0 ? '+' : ''}${d.z.toFixed(1)}σ)`)
        .join(', ');
      lines.push(`  ${c.cluster_id.padEnd(12)} ${String(c.size).padStart(6)}  ${c.name === undefined ? '' : `[${c.name}] `}${traits}`);
    }
  }
  const top = result.anomalies.slice(0, 5).map((a) => `${a.vm_id} ${a.score}`);
  if (top.length > 0) lines.push(`most anomalous: ${top.join(', ')}`);
  const groups = new Set(Object.values(result.affinity_groups)).size;
  if (groups > 0) lines.push(`affinity groups: ${fmt(groups)}`);
  return `${lines.join('\n')}\n`;
}

function fmtValue(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);
}
