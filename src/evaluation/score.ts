/**
 * Scores a replay result against a fixture's ground truth: adjusted Rand index and normalised mutual
 * information for VMs (truth: role) and tenants (truth: kind), over the entities both sides hold; and
 * the traffic affinity groups against each VM's application (truth: tenant and app).
 */
import { z } from 'zod';
import { adjustedRandIndex, normalizedMutualInformation } from './metrics.ts';

/**
 * What scoring reads of a truth file: only the labels. The generator writes the whole document (`Truth`,
 * src/fixtures/types.ts); reading no more than this lets a truth made elsewhere be scored too.
 */
export const TruthLabels = z.object({
  name: z.string().optional(),
  vms: z.record(z.string(), z.object({ role: z.string(), tenant_id: z.string().nullish(), app: z.string().nullish() })),
  tenants: z.record(z.string(), z.object({ kind: z.string() })),
});
export type TruthLabels = z.infer<typeof TruthLabels>;

export const ResultAssignments = z.object({
  vm_clusters: z.record(z.string(), z.string()),
  tenant_clusters: z.record(z.string(), z.string()),
  affinity_groups: z.record(z.string(), z.string()).optional(),
});
export type ResultAssignments = z.infer<typeof ResultAssignments>;

export interface SideScore {
  ari: number;
  nmi: number;
  /** Entities scored (in both truth and result). */
  scored: number;
  /** In the truth but missing from the result, and in the result but not in the truth. */
  missing: number;
  extra: number;
  truthClasses: number;
  clusters: number;
}

export interface Score {
  vms: SideScore;
  tenants: SideScore;
  /** Affinity groups against applications; absent when the result or the truth has none. */
  affinity?: SideScore;
}

function scoreSide(truth: Record<string, string>, predicted: Record<string, string>): SideScore {
  const ids = Object.keys(truth).filter((id) => id in predicted).sort();
  const t = ids.map((id) => truth[id]!);
  const p = ids.map((id) => predicted[id]!);
  return {
    ari: ids.length > 0 ? adjustedRandIndex(t, p) : 0,
    nmi: ids.length > 0 ? normalizedMutualInformation(t, p) : 0,
    scored: ids.length,
    missing: Object.keys(truth).filter((id) => !(id in predicted)).length,
    extra: Object.keys(predicted).filter((id) => !(id in truth)).length,
    truthClasses: new Set(t).size,
    clusters: new Set(p).size,
  };
}

export function score(result: ResultAssignments, truth: TruthLabels): Score {
  const vmTruth = Object.fromEntries(Object.entries(truth.vms).map(([id, v]) => [id, v.role]));
  const tenantTruth = Object.fromEntries(Object.entries(truth.tenants).map(([id, t]) => [id, t.kind]));
  const out: Score = { vms: scoreSide(vmTruth, result.vm_clusters), tenants: scoreSide(tenantTruth, result.tenant_clusters) };
  const apps = applicationTruth(truth);
  if (result.affinity_groups !== undefined && Object.keys(apps).length > 0) out.affinity = scoreSide(apps, result.affinity_groups);
  return out;
}

/** Each VM's application: app names repeat across tenants, so the class is the pair. */
function applicationTruth(truth: TruthLabels): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [id, v] of Object.entries(truth.vms)) if (v.app != null) out[id] = `${v.tenant_id ?? ''}/${v.app}`;
  return out;
}

/** Which truth classes each cluster holds, largest first: where the errors are. */
export function confusion(truth: Record<string, string>, predicted: Record<string, string>): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const [id, cluster] of Object.entries(predicted)) {
    const cls = truth[id];
    if (cls === undefined) continue;
    const m = out.get(cluster) ?? new Map<string, number>();
    out.set(cluster, m);
    m.set(cls, (m.get(cls) ?? 0) + 1);
  }
  return out;
}
