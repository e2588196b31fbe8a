import { probeKey } from './trace.ts';
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

/** What a goal needs of a connection to tell a probe (structural: the generator knows nothing of the learner). */
export interface ProbeCandidate {
  client: { vmId: string | null };
  server: { ip: string };
  protocol: number;
  port: number;
}

/**
 * Which connections of the truth's scanners are probes: all of a scanner VM's; of a compromised client's,
 * only those the generator made as probes (`probes`, TraceGenerator.probes), not its role's traffic.
 */
export function probesOf(truth: Truth, probes: ReadonlySet<string>): (c: ProbeCandidate) => boolean {
  return (c) => {
    const vm = c.client.vmId;
    if (vm === null || truth.vms[vm]?.compromised !== true) return true;
    return probes.has(probeKey(vm, c.server.ip, c.protocol, c.port));
  };
}
