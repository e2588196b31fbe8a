/**
 * Ids the service gives out for affinity groups (affinity.ts numbers them by size). Here, below the runs
 * that find the groups, the placement advice that names them and the API that parses them back, so that
 * all three spell them the same way.
 */

export const AFFINITY_GROUP_PREFIX = 'g-';

export function affinityGroupId(group: number): string {
  return `${AFFINITY_GROUP_PREFIX}${group}`;
}
