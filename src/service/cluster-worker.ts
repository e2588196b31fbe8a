/**
 * Worker-thread entry, off the service's event loop. The service starts two of these (clusterer.ts) and
 * splits a run's stages between them; each request is one stage of runClustering.
 */
import { parentPort } from 'node:worker_threads';
import type { FeatureMatrix } from '../clustering/types.ts';
import { type StringColumn, unpackIds } from '../core/string-column.ts';
import { clusterTenants, clusterVms, describeVms, type RunOptions, runAffinity, runPlacement } from '../runs/clustering-run.ts';
import type { VmPairs } from '../runs/run-input.ts';
import {
  type PackedPlacementInput,
  type PackedPrevious,
  type PackedTenantInputs,
  unpackPlacementInput,
  unpackPrevious,
  unpackTenantInputs,
} from './worker-messages.ts';

export type WorkerRequest =
  /** The VM clusters (their labels reported as soon as known, as progress), then their insights. */
  | { id: number; kind: 'vms'; features: FeatureMatrix; options: RunOptions; vmIds: StringColumn; previous: PackedPrevious }
  | {
      id: number;
      kind: 'tenants';
      inputs: PackedTenantInputs;
      vmLabels: Int32Array;
      vmClusters: number;
      options: RunOptions;
      previous: PackedPrevious;
      vmSearched: boolean;
    }
  | { id: number; kind: 'affinity'; vmCount: number; pairs: VmPairs; options: RunOptions }
  /**
   * The placement advice, once the affinity groups are known: 0.2 s of CPU at 11.6k VMs, off the loop that
   * serves reads. Its plan comes back without the advice's input, which the sender has (2.4 MB of objects
   * to decode on its loop at 11.6k VMs).
   */
  | { id: number; kind: 'placement'; input: PackedPlacementInput; affinityGroup: Int32Array; options: RunOptions };

/** The VM labels, sent before the insights so that the tenant side can start on the other thread. */
export interface VmLabelsProgress {
  labels: Int32Array;
  k: number;
  /** False when the VM side ran warm: the tenant side may then run warm too. */
  searched: boolean;
}

/** A stage's result and the buffers moved back with it (nothing of them is used here afterwards). */
function handle(req: WorkerRequest): { result: unknown; transfer: ArrayBuffer[] } {
  switch (req.kind) {
    case 'affinity': {
      const started = performance.now();
      const affinity = runAffinity(req.vmCount, req.pairs, req.options);
      return { result: { affinity, ms: performance.now() - started }, transfer: [] };
    }
    case 'placement': {
      const { placement, ms } = runPlacement(unpackPlacementInput(req.input), req.affinityGroup, req.options);
      return { result: { plan: placement?.plan ?? null, ms }, transfer: [] };
    }
    case 'tenants': {
      const inputs = unpackTenantInputs(req.inputs);
      return { result: clusterTenants(inputs, req.vmLabels, req.vmClusters, req.options, unpackPrevious(req.previous, 'tenants'), req.vmSearched), transfer: [] };
    }
    case 'vms': {
      const vmIds = unpackIds(req.vmIds);
      const vmOutcome = clusterVms(req.features, req.options, unpackPrevious(req.previous, 'vms'), vmIds);
      const progress: VmLabelsProgress = { labels: vmOutcome.labels, k: vmOutcome.k, searched: vmOutcome.search?.searched !== false };
      parentPort?.postMessage({ id: req.id, progress });
      const insights = describeVms(vmOutcome, req.features, req.options);
      // The feature matrix goes back as it came, moved: 4.2 MB at 11.6k VMs.
      return { result: { vmOutcome, vmFeatures: req.features, insights }, transfer: [req.features.data.buffer as ArrayBuffer] };
    }
  }
}

parentPort?.on('message', (req: WorkerRequest) => {
  try {
    const { result, transfer } = handle(req);
    parentPort?.postMessage({ id: req.id, result }, transfer);
  } catch (err) {
    // Only the message crosses the thread boundary; the stack stays in the worker's log.
    console.error(`clustering worker: ${req.kind} failed`, err);
    parentPort?.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) });
  }
});
