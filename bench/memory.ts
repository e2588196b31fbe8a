/**
 * npm run bench -- memory: what the fleet state costs per VM at 10k, 50k and 100k VMs, before and after
 * silent VMs expire, and what the fleet codec costs (size, encode and decode time) at 10k VMs.
 *
 * How the fleet is made: flows are generated straight into FleetState (no JSON, so that building 100k VMs
 * takes seconds, not minutes) with a realistic fan-out: VMs in applications of 20, each with 8 fixed VM
 * peers in its application (ports of a web, database, cache or messaging server), one flow in ten to an
 * address outside the overlay from a pool of 5,000, two flows per VM and minute over one whole window,
 * and attributes for every VM. Then half the VMs fall silent: the other half goes on with one flow per
 * minute until the idle time (2 windows) has passed and the sweep has forgotten the silent half.
 *
 * Memory is process.memoryUsage() after a forced GC, minus the same before the fleet was built: the heap
 * (entries, Maps, attributes, sets' objects) and the typed arrays (ring slab, distinct-set tables, pair
 * table) apart. The ring slab keeps its capacity after expiry (freed rings are reused by new VMs), so
 * "after" shows what a steady state with the same churn costs, not a smaller slab.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { emptyFlowRecord, type VmAttributes } from '../src/contract/records.ts';
import { Random } from '../src/core/random.ts';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { decodeFleetState, encodeFleetState, encodeFleetStateInSlices } from '../src/fleet/fleet-codec.ts';
import { FleetState } from '../src/fleet/fleet-state.ts';
import { takeRunInput } from '../src/runs/run-input.ts';
import { defaultWindowConfig, idleMsOf } from '../src/windows/window-config.ts';

const SIZES = [10_000, 50_000, 100_000];
const APP_SIZE = 20;
const PEERS = 8;
const SERVICE_PORTS = [443, 5432, 6379, 9092];
const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 1);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Usage {
  heap: number;
  external: number;
}

function usage(): Usage {
  gc();
  gc();
  const m = process.memoryUsage();
  // arrayBuffers is included in external: typed arrays are reported there.
  return { heap: m.heapUsed, external: m.external };
}

const mb = (bytes: number): number => Number((bytes / 2 ** 20).toFixed(1));

function vmId(i: number): string {
  return `vm-${i.toString(16).padStart(8, '0')}-4f1c-8a2e-${(i * 2654435761) % 1e12}`;
}

/** Builds a fleet of `n` VMs over one window of event time. */
export function buildFleet(n: number, rng: Random): { fleet: FleetState; ids: string[]; flows: number; ingestMs: number } {
  const fleet = new FleetState(defaultWindowConfig);
  const ids = Array.from({ length: n }, (_, i) => vmId(i));
  const peers = ids.map((_, i) => {
    const app = Math.floor(i / APP_SIZE) * APP_SIZE;
    return Array.from({ length: PEERS }, () => Math.min(n - 1, app + rng.int(0, APP_SIZE - 1)));
  });
  for (let i = 0; i < n; i++) {
    const a: VmAttributes = {
      ts: T0,
      vmId: ids[i]!,
      tenantId: `tenant-${Math.floor(i / 200)}`,
      vpcId: `vpc-${Math.floor(i / 100)}`,
      vni: null,
      subnetId: null,
      ip: null,
      image: 'ubuntu-24.04',
      hostId: `host-${i % 2000}`,
      vcpus: 4,
      memoryMb: 8192,
      state: 'active',
      cpuUtil: 0.3,
      labels: null,
    };
    fleet.applyVmAttributes(a);
  }
  const f = emptyFlowRecord();
  f.protocol = 6;
  let flows = 0;
  const started = performance.now();
  for (let m = 0; m < defaultWindowConfig.windowMs / MIN; m++) {
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 2; k++) {
        f.ts = T0 + m * MIN + ((i * 7 + k * 13) % 60) * 1000;
        f.srcVm = ids[i]!;
        f.srcIp = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
        if (rng.chance(0.1)) {
          f.dstVm = null;
          f.dstIp = `198.51.${rng.int(0, 19)}.${rng.int(0, 249)}`;
        } else {
          const p = peers[i]![rng.int(0, PEERS - 1)]!;
          f.dstVm = ids[p]!;
          f.dstIp = `10.${(p >> 16) & 255}.${(p >> 8) & 255}.${p & 255}`;
        }
        f.srcPort = 32_768 + rng.int(0, 28_000);
        f.dstPort = SERVICE_PORTS[(i + k) % SERVICE_PORTS.length]!;
        f.bytes = 500 + rng.int(0, 50_000);
        f.packets = 1 + (f.bytes >> 10);
        fleet.applyFlow(f);
        flows++;
      }
    }
  }
  return { fleet, ids, flows, ingestMs: performance.now() - started };
}

/** Lets the odd VMs fall silent: the even ones go on until the idle time has passed. */
function silenceHalf(fleet: FleetState, ids: string[]): number {
  const f = emptyFlowRecord();
  f.protocol = 6;
  f.srcPort = 40_000;
  f.dstPort = 443;
  f.bytes = 1000;
  f.packets = 2;
  const from = fleet.watermark;
  const minutes = idleMsOf(defaultWindowConfig) / MIN + 2;
  for (let m = 1; m <= minutes; m++) {
    for (let i = 0; i < ids.length; i += 2) {
      f.ts = from + m * MIN;
      f.srcVm = ids[i]!;
      f.dstVm = ids[(i + 2) % ids.length]!;
      fleet.applyFlow(f);
    }
  }
  return fleet.counters.vmsExpired;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

export interface MemoryFigures {
  vms: number;
  flows: number;
  ingest_records_per_s: number;
  heap_mb: number;
  typed_arrays_mb: number;
  bytes_per_vm: number;
  ring_slab_mb: number;
  pair_table_mb: number;
  pairs: number;
  after_expiry: {
    vms: number;
    expired: number;
    heap_mb: number;
    typed_arrays_mb: number;
    bytes_per_tracked_vm: number;
    ring_slab_mb: number;
    rings_in_use: number;
    pair_table_mb: number;
    pairs: number;
  };
  /** As many new VMs as expired, after the expiry: they take the freed rings, the slab does not grow. */
  after_newcomers: { vms: number; ring_slab_mb: number; rings_in_use: number };
  codec?: {
    bytes: number;
    bytes_per_vm: number;
    encode_ms: number;
    decode_ms: number;
    features_equal: boolean;
    /** The service's way: in slices of 2,000 VMs, yielding between them. */
    sliced_encode_ms: number;
    /** Longest the event loop was held during the sliced encode (what an API request can wait). */
    sliced_longest_hold_ms: number;
  };
}

type CodecFigures = NonNullable<MemoryFigures['codec']>;

async function measureCodec(fleet: FleetState): Promise<CodecFigures> {
  const encodeMs: number[] = [];
  const decodeMs: number[] = [];
  let bytes: Uint8Array = new Uint8Array(0);
  let decoded: FleetState | null = null;
  for (let r = 0; r < 3; r++) {
    let t = performance.now();
    bytes = encodeFleetState(fleet);
    encodeMs.push(performance.now() - t);
    t = performance.now();
    decoded = decodeFleetState(bytes, defaultWindowConfig);
    decodeMs.push(performance.now() - t);
  }
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const slicedStart = performance.now();
  delay.enable();
  await encodeFleetStateInSlices(fleet);
  delay.disable();
  const slicedMs = performance.now() - slicedStart;
  const a = takeRunInput(fleet).vmFeatures.data;
  const b = decoded ? takeRunInput(decoded).vmFeatures.data : new Float64Array(0);
  return {
    bytes: bytes.length,
    bytes_per_vm: Math.round(bytes.length / fleet.vms.size),
    encode_ms: Math.round(median(encodeMs)),
    decode_ms: Math.round(median(decodeMs)),
    features_equal: Buffer.from(a.buffer).equals(Buffer.from(b.buffer)),
    sliced_encode_ms: Math.round(slicedMs),
    sliced_longest_hold_ms: Math.round(delay.max / 1e6),
  };
}

export async function benchMemory(): Promise<MemoryFigures[]> {
  const out: MemoryFigures[] = [];
  for (const n of SIZES) {
    const rng = new Random(n);
    const before = usage();
    const built = buildFleet(n, rng);
    const { fleet, ids } = built;
    const full = usage();
    const heap = full.heap - before.heap;
    const typed = full.external - before.external;
    const figures: MemoryFigures = {
      vms: fleet.vms.size,
      flows: built.flows,
      ingest_records_per_s: Math.round(built.flows / (built.ingestMs / 1000)),
      heap_mb: mb(heap),
      typed_arrays_mb: mb(typed),
      bytes_per_vm: Math.round((heap + typed) / fleet.vms.size),
      ring_slab_mb: mb(fleet.slab.bytes),
      pair_table_mb: mb(fleet.pairs.bytes),
      pairs: fleet.pairs.size,
      after_expiry: {
        vms: 0,
        expired: 0,
        heap_mb: 0,
        typed_arrays_mb: 0,
        bytes_per_tracked_vm: 0,
        ring_slab_mb: 0,
        rings_in_use: 0,
        pair_table_mb: 0,
        pairs: 0,
      },
      after_newcomers: { vms: 0, ring_slab_mb: 0, rings_in_use: 0 },
    };
    // In its own function: an async function's frame would keep the encoded bytes alive for the figures after.
    if (n === SIZES[0] || n === SIZES[SIZES.length - 1]) figures.codec = await measureCodec(fleet);
    const expired = silenceHalf(fleet, ids);
    // The pair table shrinks at a run's purge (every RECLUSTER_MINUTES): take one, as the service would.
    takeRunInput(fleet);
    const after = usage();
    const heapAfter = after.heap - before.heap;
    const typedAfter = after.external - before.external;
    figures.after_expiry = {
      vms: fleet.vms.size,
      expired,
      heap_mb: mb(heapAfter),
      typed_arrays_mb: mb(typedAfter),
      bytes_per_tracked_vm: Math.round((heapAfter + typedAfter) / fleet.vms.size),
      ring_slab_mb: mb(fleet.slab.bytes),
      rings_in_use: fleet.slab.size,
      pair_table_mb: mb(fleet.pairs.bytes),
      pairs: fleet.pairs.size,
    };
    const f = emptyFlowRecord();
    f.ts = fleet.watermark;
    f.bytes = 100;
    f.packets = 1;
    for (let i = 0; i < expired; i++) {
      f.srcVm = `newcomer-${i}`;
      fleet.applyFlow(f);
    }
    figures.after_newcomers = { vms: fleet.vms.size, ring_slab_mb: mb(fleet.slab.bytes), rings_in_use: fleet.slab.size };
    out.push(figures);
    process.stderr.write(`  ${n} VMs: ${JSON.stringify(figures)}\n`);
  }
  return out;
}
