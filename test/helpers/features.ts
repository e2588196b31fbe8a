/** One VM's features as a fleet's run would see them, by name: what feature tests compare. */
import { VM_FEATURE_COUNT, VM_FEATURES, type VmFeatureName } from '../../src/features/vm-features.ts';
import type { FleetState } from '../../src/fleet/fleet-state.ts';
import { takeRunInput } from '../../src/runs/run-input.ts';

export function vmFeaturesOf(fleet: FleetState, vmId: string): { [K in VmFeatureName]: number } {
  const snap = takeRunInput(fleet);
  const i = snap.vmIds.indexOf(vmId);
  if (i < 0) throw new Error(`${vmId} not live`);
  const row = snap.vmFeatures.data.subarray(i * VM_FEATURE_COUNT, (i + 1) * VM_FEATURE_COUNT);
  return Object.fromEntries(VM_FEATURES.map((n, j) => [n, row[j]!])) as { [K in VmFeatureName]: number };
}
