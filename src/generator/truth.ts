import type { Truth } from './types.ts';

/**
 * The truth's scanners: VMs of the scanner role and, in the hard security plan, compromised clients (a
 * client role's traffic and probes besides). What security-group goals must deny, whatever the VM's role.
 */
export function scannersOf(truth: Truth): Set<string> {
  return new Set(
    Object.entries(truth.vms)
      .filter(([, v]) => v.role === 'scanner' || v.compromised === true)
      .map(([id]) => id),
  );
}
