/**
 * A run's membership as the security-group recommendation takes it: kept with the runs so that
 * security-groups/ stays below them and knows nothing of a run's shape.
 */
import type { Membership } from '../security-groups/recommend.ts';
import type { ClusteringRun } from './clustering-run.ts';

export function membershipOf(run: ClusteringRun): Membership {
  const names = new Map<string, string>();
  run.vmClusterNames?.forEach((name, label) => {
    const id = run.vms.labelIds[label];
    if (id !== undefined) names.set(id, name);
  });
  return {
    runId: run.runId,
    computedAt: run.computedAt,
    vmIds: run.vms.ids,
    clusterIds: run.vms.clusterIds,
    vmTenants: run.vmTenants,
    anomalyScores: run.vmAnomalies?.score ?? null,
    clusterNames: names,
  };
}
