/**
 * A VM's feature vector: how it behaves on the network over the window, as scale-free quantities (shares,
 * ratios, logs) so that a small shop's web server and a large one's look alike. Volumes appear only as logs,
 * and the default clustering weights keep them light.
 */
import type { FleetState } from '../fleet/fleet-state.ts';
import type { VmEntry } from '../fleet/vm-entry.ts';
import { LOCAL_PORTS, PEERS_IN, PEERS_OUT, REMOTE_PORTS } from '../windows/distinct-sets.ts';
import { PORT_CLASSES } from '../traffic/ports.ts';
import * as S from '../traffic/vm-stats.ts';

export const VM_FEATURES = [
  'log_bytes_per_min',
  'log_flows_per_min',
  'out_share',
  'log_packet_size_out',
  'log_packet_size_in',
  'log_peers_out',
  'log_peers_in',
  'peer_asymmetry',
  'external_share',
  'same_tenant_peer_share',
  'cross_host_share',
  'tcp_share',
  'udp_share',
  'icmp_share',
  'server_share',
  'server_flow_share',
  'peer_traffic_share',
  ...PORT_CLASSES.map((c) => `served_${c}_share` as const),
  ...PORT_CLASSES.map((c) => `used_${c}_share` as const),
  'log_remote_ports',
  'log_local_ports',
  'infra_share',
  'burstiness',
  'active_share',
  'log_vcpus',
  'log_memory_gb',
  'cpu_util',
] as const;
export type VmFeatureName = (typeof VM_FEATURES)[number];
export const VM_FEATURE_COUNT = VM_FEATURES.length;

/** Features that describe size rather than behaviour, or attributes a role does not fix: weighed lightly. */
const DEFAULT_VM_FEATURE_WEIGHTS: Readonly<Record<string, number>> = {
  log_bytes_per_min: 0.35,
  log_flows_per_min: 0.35,
  infra_share: 0.5,
  log_vcpus: 0.25,
  log_memory_gb: 0.25,
  cpu_util: 0.25,
  // Where a VM's peers run is the scheduler's doing: it says more about placement than about behaviour.
  cross_host_share: 0.25,
  same_tenant_peer_share: 0.6,
  // Packet size and the use of UDP are the most scale-free signatures of an application (probes, RPCs,
  // bulk, jumbo frames; QUIC and media streams).
  log_packet_size_out: 1.5,
  log_packet_size_in: 1.5,
  udp_share: 1.5,
};

/**
 * The smallest difference in each feature that should count as a whole standard deviation when clustering:
 * 10 points of a share, a factor of about 1.4 in a count, 2 in a volume. Without it a feature that is almost
 * constant across the fleet turns noise into distance.
 */
function vmFeatureResolution(name: VmFeatureName): number {
  if (name.endsWith('_share') || name === 'burstiness' || name === 'peer_asymmetry' || name === 'cpu_util') return 0.1;
  if (name === 'log_bytes_per_min' || name === 'log_flows_per_min') return 0.3;
  return 0.5;
}

export function vmFeatureMinScales(): Float64Array {
  return Float64Array.from(VM_FEATURES, vmFeatureResolution);
}

/** Mean packet size as log2(bytes per packet): 64 B probes (6), 1500 B MTU (10.6), 9000 B jumbo frames (13.1). */
const logPacketSize = (bytes: number, packets: number): number => (packets > 0 && bytes > 0 ? Math.log2(bytes / packets) : 0);

const share = (part: number, whole: number): number => (whole > 0 ? part / whole : 0);

/** Service bytes of a VM in the window, for tenant aggregates. */
export interface VmVolumes {
  bytes: number;
  external: number;
  sameTenant: number;
}

/** Scratch buffer for window sums; one per process is enough since extraction is synchronous. */
const sums = new Float64Array(S.STAT_COUNT);

/**
 * Writes the VM's features for the window [firstBucket, lastBucket] into `out` at `offset`.
 * Unknown attributes are written as NaN; the clustering stage imputes them.
 */
function extractVmFeatures(
  vm: VmEntry,
  firstBucket: number,
  lastBucket: number,
  windowMinutes: number,
  out: Float64Array,
  offset: number,
  volumes?: VmVolumes,
  peerBySerial?: (serial: number) => VmEntry | undefined,
): void {
  vm.slab.sum(vm.ring, firstBucket, lastBucket, sums);
  if (volumes) {
    volumes.bytes = sums[S.S_BYTES_OUT]! + sums[S.S_BYTES_IN]!;
    volumes.external = sums[S.S_BYTES_EXTERNAL]!;
  }
  const bytesOut = sums[S.S_BYTES_OUT]!;
  const bytesIn = sums[S.S_BYTES_IN]!;
  const bytes = bytesOut + bytesIn;
  const flows = sums[S.S_FLOWS_OUT]! + sums[S.S_FLOWS_IN]!;
  vm.distinct.purge(firstBucket);
  // Exact, or estimated by the set's sketch when it outgrew its cap in the window.
  const peersOut = vm.distinct.count(PEERS_OUT, firstBucket, lastBucket);
  const peersIn = vm.distinct.count(PEERS_IN, firstBucket, lastBucket);
  const sameTenant = sameTenantPeerShare(vm, peerBySerial);
  if (volumes) volumes.sameTenant = volumes.bytes * sameTenant;
  const serverClient = sums[S.S_BYTES_SERVER]! + sums[S.S_BYTES_CLIENT]!;
  const serverClientFlows = sums[S.S_FLOWS_SERVER]! + sums[S.S_FLOWS_CLIENT]!;
  const portBytes = serverClient + sums[S.S_BYTES_PEER]!;

  let o = offset;
  out[o++] = Math.log10(1 + bytes / windowMinutes);
  out[o++] = Math.log10(1 + flows / windowMinutes);
  out[o++] = share(bytesOut, bytes);
  out[o++] = logPacketSize(bytesOut, sums[S.S_PACKETS_OUT]!);
  out[o++] = logPacketSize(bytesIn, sums[S.S_PACKETS_IN]!);
  out[o++] = Math.log2(1 + peersOut);
  out[o++] = Math.log2(1 + peersIn);
  out[o++] = peersOut + peersIn > 0 ? (peersOut - peersIn) / (peersOut + peersIn) : 0;
  out[o++] = share(sums[S.S_BYTES_EXTERNAL]!, bytes);
  out[o++] = sameTenant;
  out[o++] = share(sums[S.S_BYTES_CROSS_HOST]!, sums[S.S_BYTES_HOST_KNOWN]!);
  out[o++] = share(sums[S.S_BYTES_TCP]!, bytes);
  out[o++] = share(sums[S.S_BYTES_UDP]!, bytes);
  out[o++] = share(sums[S.S_BYTES_ICMP]!, bytes);
  out[o++] = share(sums[S.S_BYTES_SERVER]!, serverClient);
  out[o++] = share(sums[S.S_FLOWS_SERVER]!, serverClientFlows);
  out[o++] = share(sums[S.S_BYTES_PEER]!, portBytes);
  for (let c = 0; c < PORT_CLASSES.length; c++) out[o++] = share(sums[S.S_SERVED_BASE + c]!, portBytes);
  for (let c = 0; c < PORT_CLASSES.length; c++) out[o++] = share(sums[S.S_USED_BASE + c]!, portBytes);
  out[o++] = Math.log2(1 + vm.distinct.count(REMOTE_PORTS, firstBucket, lastBucket));
  out[o++] = Math.log2(1 + vm.distinct.count(LOCAL_PORTS, firstBucket, lastBucket));
  out[o++] = share(sums[S.S_BYTES_INFRA]!, bytes + sums[S.S_BYTES_INFRA]!);
  const { burstiness, active } = bucketShape(vm, firstBucket, lastBucket, bytes);
  out[o++] = burstiness;
  out[o++] = active;
  const a = vm.attributes;
  out[o++] = a?.vcpus != null ? Math.log2(1 + a.vcpus) : Number.NaN;
  out[o++] = a?.memoryMb != null ? Math.log2(1 + a.memoryMb / 1024) : Number.NaN;
  out[o++] = a?.cpuUtil ?? Number.NaN;
  if (o - offset !== VM_FEATURE_COUNT) throw new Error('feature layout out of sync with VM_FEATURES');
}

/**
 * The share of the VM's live VM peers in the window that belong to its own tenant, judged with the
 * attributes known now. Decided at extraction rather than per record so that it does not depend on
 * whether a VM's attributes were consumed before or after its flows (separate topics interleave freely).
 * When a peer set outgrew its cap, the share is judged on the exact peers it still holds: a sample.
 */
function sameTenantPeerShare(vm: VmEntry, peerBySerial: ((serial: number) => VmEntry | undefined) | undefined): number {
  const tenant = vm.tenantId;
  if (tenant === null || peerBySerial === undefined) return 0;
  let peers = 0;
  let same = 0;
  const visit = (serial: number): void => {
    const peer = peerBySerial(serial);
    if (peer === undefined) return;
    peers++;
    if (peer.tenantId === tenant) same++;
  };
  // Peers seen in both directions count twice, in numerator and denominator alike.
  vm.distinct.forEachNumber(PEERS_OUT, visit);
  vm.distinct.forEachNumber(PEERS_IN, visit);
  return peers > 0 ? same / peers : 0;
}

/**
 * Burstiness: the coefficient of variation of service bytes across the window's buckets, divided by its
 * maximum (sqrt(n - 1), all bytes in one bucket) so that it lies in [0, 1]; and the share of buckets with traffic.
 */
function bucketShape(
  vm: VmEntry,
  firstBucket: number,
  lastBucket: number,
  total: number,
): { burstiness: number; active: number } {
  const n = lastBucket - firstBucket + 1;
  if (total <= 0 || n < 2) return { burstiness: 0, active: 0 };
  const mean = total / n;
  let sq = 0;
  let active = 0;
  for (let b = firstBucket; b <= lastBucket; b++) {
    const v = vm.slab.valueAt(vm.ring, b, S.S_BYTES_OUT) + vm.slab.valueAt(vm.ring, b, S.S_BYTES_IN);
    if (v > 0) active++;
    sq += (v - mean) * (v - mean);
  }
  const cv = Math.sqrt(sq / n) / mean;
  return { burstiness: cv / Math.sqrt(n - 1), active: active / n };
}

export function vmFeatureWeights(overrides: Readonly<Record<string, number>> = {}): Float64Array {
  const w = new Float64Array(VM_FEATURE_COUNT).fill(1);
  for (const [name, value] of Object.entries({ ...DEFAULT_VM_FEATURE_WEIGHTS, ...overrides })) {
    const i = VM_FEATURES.indexOf(name as VmFeatureName);
    if (i < 0) throw new RangeError(`unknown VM feature "${name}"`);
    w[i] = value;
  }
  return w;
}

/**
 * The VM's features over the fleet's current window, written into `out` at `offset`: the one way both a
 * clustering run's matrix and a single VM's view read a VM, so that the two always agree.
 */
export function fleetVmFeatures(fleet: FleetState, vm: VmEntry, out: Float64Array, offset: number, volumes?: VmVolumes): void {
  const { first, last } = fleet.windowRange();
  extractVmFeatures(vm, first, last, fleet.config.windowMs / 60_000, out, offset, volumes, (serial) => fleet.vmBySerial(serial));
}

/** One VM's current features by name, unknown ones (NaN) left out; null before the fleet has seen event time. */
export function vmFeatureView(fleet: FleetState, vm: VmEntry): Record<string, number> | null {
  if (!Number.isFinite(fleet.watermark)) return null;
  const row = new Float64Array(VM_FEATURE_COUNT);
  fleetVmFeatures(fleet, vm, row, 0);
  const features: Record<string, number> = {};
  VM_FEATURES.forEach((name, i) => {
    const v = row[i]!;
    if (Number.isFinite(v)) features[name] = v;
  });
  return features;
}
