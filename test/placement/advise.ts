import { describePlacement, planPlacement } from '../../src/placement/advice.ts';
import type { PlacementAdvice, PlacementInput, PlacementOptions } from '../../src/placement/types.ts';

/** The advice for the whole fleet (or one tenant) in one call, as a run and then a request make it. */
export function advisePlacement(input: PlacementInput, options: Partial<PlacementOptions> = {}, tenant: string | null = null): PlacementAdvice {
  return describePlacement(planPlacement(input, options), input, tenant);
}
