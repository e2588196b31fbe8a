/**
 * The window stage of one by-VM partition (pure): the windows of the VMs that partition holds, moved through
 * event time by the router's stamps, and what it publishes at a tick: its VMs' features and its share of
 * the VM-pair graph, with what the leader needs to finish the cross-partition parts (peer keys, tenants).
 */
import type { VmAttributes } from '../contract/records.ts';
import type { Rejection } from '../contract/rejections.ts';
import { decodeFleetState, encodeFleetState, encodeFleetStateInSlices } from '../fleet/fleet-codec.ts';
import { FleetState } from '../fleet/fleet-state.ts';
import type { PlacementFacts } from '../placement/run-placement.ts';
import { inSlices, runToEnd } from '../core/slices.ts';
import { takeRunInputSteps } from '../runs/run-input.ts';
import { PEERS_IN, PEERS_OUT } from '../windows/distinct-sets.ts';
import type { WindowConfig } from '../windows/window-config.ts';
import { type ByVmRecord, orNegInf, vmKeyMemo } from './by-vm.ts';

/** One partition's features at one tick (or request): a plain document, structured-cloned onto the topic. */
export interface PartitionFeatures {
  partition: number;
  /** The scheduled tick (event time), or null for a requested run. */
  tick: number | null;
  request: string | null;
  watermark: number;
  windowMs: number;
  /** Live VMs sorted by id, and their rows. */
  vmIds: string[];
  vmTenants: (string | null)[];
  vmVpcs: (string | null)[];
  features: Float64Array;
  vmBytes: Float64Array;
  vmExternalBytes: Float64Array;
  /** Peer keys of each VM in the window, out then in: peerCounts[2i], peerCounts[2i + 1] of them. */
  peerCounts: Int32Array;
  peerKeys: Float64Array;
  /** Every VM held (live or not, not deleted) and its tenant: the peers a same-tenant share may count. */
  heldIds: string[];
  heldTenants: (string | null)[];
  /** Pairs this partition counts (its VM has the smaller id): VM keys and bytes in the window. */
  pairLo: Float64Array;
  pairHi: Float64Array;
  pairBytes: Float64Array;
  placement: Omit<PlacementFacts, 'hostCapacity'>;
  /** Each live VM's latest attributes (vmIds' order): published with the run, so every member serves them. */
  vmAttributes: (VmAttributes | null)[];
}

/**
 * What a by-VM record asks of the member after it is applied: `refused` (VM attributes at the cap, MAX_VMS;
 * a flow half too late for the partition's rings), to be dead-lettered and counted.
 */
export type ApplyOutcome = 'applied' | 'publish' | { refused: Rejection };

export class PartitionState {
  readonly fleet: FleetState;
  /** Records applied and rejected here (vm_cap, too_late) since this process took the partition. */
  applied = 0;
  refusedAtCap = 0;
  /** Flow halves whose bucket had left the rings (FleetState.applyFlowHalf): a router far behind another. */
  refusedTooLate = 0;
  /**
   * The newest tick this partition has published features at. Every router announces every tick to every
   * partition, so a tick arrives once per router; only its first announcement publishes. Computing features
   * purges the windows, so this is part of the state: it travels in the checkpoint, and a successor replaying
   * from there purges (and publishes) at the very announcements its predecessor did.
   */
  publishedTick: number;
  /** The peer keys of the VMs this partition's halves name (a VM's records come again and again). */
  private readonly peerKey = vmKeyMemo();
  constructor(
    readonly partition: number,
    readonly window: WindowConfig,
    fleet?: FleetState,
    publishedTick: number = Number.NEGATIVE_INFINITY,
  ) {
    this.fleet = fleet ?? new FleetState(window);
    this.publishedTick = publishedTick;
  }

  apply(r: ByVmRecord): ApplyOutcome {
    this.applied++;
    if (r.k === 'q') return 'publish';
    this.fleet.advanceTo(orNegInf(r.sa), orNegInf(r.w));
    if (r.k === 'f') {
      const late = this.fleet.applyFlowHalf(r.r, r.o, this.peerKey);
      if (late !== null) {
        this.refusedTooLate++;
        return { refused: late };
      }
    } else if (r.k === 'v') {
      const refused = this.fleet.applyVmAttributes(r.r);
      if (refused !== null) {
        this.refusedAtCap++;
        return { refused };
      }
    } else if (r.k === 't' && r.tick > this.publishedTick) {
      this.publishedTick = r.tick;
      return 'publish';
    }
    return 'applied';
  }

  features(tick: number | null, request: string | null): PartitionFeatures {
    return runToEnd(this.featuresSteps(tick, request, Number.POSITIVE_INFINITY));
  }

  /**
   * The same features, yielding to the event loop between steps of at most FEATURES_VMS_PER_STEP VMs: a
   * member computes them while it serves reads. The caller applies nothing to the partition until it resolves.
   */
  featuresInSlices(tick: number | null, request: string | null): Promise<PartitionFeatures> {
    return inSlices(this.featuresSteps(tick, request, FEATURES_VMS_PER_STEP), FEATURES_SLICE_MS);
  }

  /** The features as steps of at most `vmsPerStep` VMs each (a step yields how many it covered). */
  *featuresSteps(tick: number | null, request: string | null, vmsPerStep: number): Generator<number, PartitionFeatures, void> {
    const fleet = this.fleet;
    const snap = yield* takeRunInputSteps(fleet, vmsPerStep);
    const { first, last } = fleet.windowRange();
    const peerCounts = new Int32Array(2 * snap.vmIds.length);
    const keys: number[] = [];
    let inStep = 0;
    for (let i = 0; i < snap.vmIds.length; i++) {
      if (inStep === vmsPerStep) {
        yield inStep;
        inStep = 0;
      }
      inStep++;
      const e = fleet.vms.get(snap.vmIds[i]!);
      if (e === undefined) continue;
      // takeRunInput purged each VM's sets at the window's first bucket: what is left is the window's.
      const before = keys.length;
      e.distinct.forEachNumber(PEERS_OUT, (k) => void (k >= VM_KEY_FLOOR && keys.push(k)));
      peerCounts[2 * i] = keys.length - before;
      e.distinct.forEachNumber(PEERS_IN, (k) => void (k >= VM_KEY_FLOOR && keys.push(k)));
      peerCounts[2 * i + 1] = keys.length - before - peerCounts[2 * i]!;
    }
    yield inStep;
    const lo: number[] = [];
    const hi: number[] = [];
    const bytes: number[] = [];
    // The pair table in steps too: at 2k VMs it holds a hundred thousand pairs and more (one block held a
    // member's loop for about 100 ms at load, bench/loop-holds.ts).
    if (Number.isFinite(fleet.watermark))
      yield* fleet.pairs.forEachSteps(
        first,
        last,
        (a, b, sum) => {
          lo.push(a);
          hi.push(b);
          bytes.push(sum);
        },
        vmsPerStep * PAIR_SLOTS_PER_VM,
      );
    const heldIds: string[] = [];
    const heldTenants: (string | null)[] = [];
    for (const e of fleet.vms.values()) {
      heldIds.push(e.vmId);
      heldTenants.push(e.tenantId);
    }
    const p = snap.placement;
    return {
      partition: this.partition,
      tick,
      request,
      watermark: fleet.watermark,
      windowMs: fleet.config.windowMs,
      vmIds: snap.vmIds,
      vmTenants: snap.vmTenants,
      vmVpcs: snap.vmVpcs,
      features: snap.vmFeatures.data,
      vmBytes: snap.vmBytes,
      vmExternalBytes: snap.vmExternalBytes,
      peerCounts,
      peerKeys: Float64Array.from(keys),
      heldIds,
      heldTenants,
      pairLo: Float64Array.from(lo),
      pairHi: Float64Array.from(hi),
      pairBytes: Float64Array.from(bytes),
      placement: {
        vmHosts: p?.vmHosts ?? [],
        vmVcpus: p?.vmVcpus ?? [],
        vmMemoryMb: p?.vmMemoryMb ?? [],
        vmLabels: p?.vmLabels ?? [],
      },
      vmAttributes: snap.vmIds.map((id) => fleet.vms.get(id)?.attributes ?? null),
    };
  }

  /** The checkpoint's bytes for the fleet part (the fleet codec, as the single-process snapshots use). */
  encodeFleet(): Uint8Array {
    return encodeFleetState(this.fleet);
  }

  /**
   * The same bytes, yielding to the event loop every few hundred VMs: a member encodes its checkpoints while
   * it serves reads. The caller applies nothing to the partition until it resolves.
   */
  encodeFleetInSlices(): Promise<Uint8Array> {
    return encodeFleetStateInSlices(this.fleet, CHECKPOINT_VMS_PER_SLICE);
  }

  /** `publishedTick` null: none published yet (or a checkpoint of an earlier version, which did not keep it). */
  static restore(partition: number, window: WindowConfig, fleetBytes: Uint8Array, publishedTick: number | null = null): PartitionState {
    return new PartitionState(partition, window, decodeFleetState(fleetBytes, window), publishedTick ?? Number.NEGATIVE_INFINITY);
  }
}

/** A step of the features: about a millisecond of work on this machine, idle (a VM's features and peers). */
export const FEATURES_VMS_PER_STEP = 200;

/** Slots of the pair table per VM of a step: walking a slot costs a small fraction of a VM's features. */
const PAIR_SLOTS_PER_VM = 50;

/** Longest the features hold the event loop at once (steps are run together up to it). */
const FEATURES_SLICE_MS = 4;

/** About a millisecond of encoding between two yields (about 3 KB per VM). */
const CHECKPOINT_VMS_PER_SLICE = 300;

/** VM peer keys (vmKey) lie above every IPv4 key of the distinct sets. */
const VM_KEY_FLOOR = 2 ** 33;

