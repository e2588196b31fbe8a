import type { KCandidate } from './types.ts';

/**
 * Chooses k from the scored candidates: the largest k whose silhouette is within `tolerance` of the
 * best silhouette.
 *
 * Why: the mean silhouette weighs every point equally, so when a small group (a handful of members) is
 * merged into a big one the mean barely moves, and when two nearby groups are merged the coarser
 * partition often scores slightly higher. Both make the plain arg-max under-pick k. Wrongly splitting
 * a real group, on the other hand, drives the silhouette of all its members towards 0, a large drop,
 * so a small tolerance lets the finer partitions the data actually supports win without opening the
 * door to arbitrary splits. Ties on k cannot happen (k is unique per candidate).
 */
export function selectK(candidates: readonly KCandidate[], tolerance: number): number | null {
  let best = Number.NEGATIVE_INFINITY;
  for (const c of candidates) if (c.silhouette > best) best = c.silhouette;
  let chosen: number | null = null;
  for (const c of candidates) if (c.silhouette >= best - tolerance && (chosen === null || c.k > chosen)) chosen = c.k;
  return chosen;
}
