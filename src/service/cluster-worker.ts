/**
 * Worker-thread entry, off the service's event loop. The service starts two of these (clusterer.ts) and
 * splits a run's stages between them; each request is one stage of runClustering.
 */
import { parentPort } from 'node:worker_threads';
import type { FeatureMatrix } from '../clustering/types.ts';
import {
  clusterTenants,
  clusterVms,
  describeVms,
  type PreviousRun,
  type RunOptions,
  runAffinity,
  runPlacement,
  type TenantInputs,
} from '../runs/clustering-run.ts';
import type { RunInput, VmPairs } from '../runs/run-input.ts';

export type WorkerRequest =
  /** The VM clusters (their labels reported as soon as known, as progress), then their insights. */
  | { id: number; kind: 'vms'; features: FeatureMatrix; options: RunOptions; vmIds: string[]; previous: PreviousRun | null }
  | {
      id: number;
      kind: 'tenants';
      inputs: TenantInputs;
      vmLabels: Int32Array;
      vmClusters: number;
      options: RunOptions;
      previous: PreviousRun | null;
      vmSearched: boolean;
    }
  | { id: number; kind: 'affinity'; vmCount: number; pairs: VmPairs; options: RunOptions }
  /** The placement advice, once the affinity groups are known: 0.2 s of CPU at 11.6k VMs, off the loop that serves reads. */
  | { id: number; kind: 'placement'; input: Pick<RunInput, 'windowMs' | 'vmIds' | 'vmTenants' | 'vmPairs' | 'placement'>; affinityGroup: Int32Array; options: RunOptions };

/** The VM labels, sent before the insights so that the tenant side can start on the other thread. */
export interface VmLabelsProgress {
  labels: Int32Array;
  k: number;
  /** False when the VM side ran warm: the tenant side may then run warm too. */
  searched: boolean;
}

function handle(req: WorkerRequest): unknown {
  switch (req.kind) {
    case 'affinity': {
      const started = performance.now();
      const affinity = runAffinity(req.vmCount, req.pairs, req.options);
      return { affinity, ms: performance.now() - started };
    }
    case 'placement':
      return runPlacement(req.input, req.affinityGroup, req.options);
    case 'tenants':
      return clusterTenants(req.inputs, req.vmLabels, req.vmClusters, req.options, req.previous, req.vmSearched);
    case 'vms': {
      const vmOutcome = clusterVms(req.features, req.options, req.previous, req.vmIds);
      const progress: VmLabelsProgress = { labels: vmOutcome.labels, k: vmOutcome.k, searched: vmOutcome.search?.searched !== false };
      parentPort?.postMessage({ id: req.id, progress });
      const insights = describeVms(vmOutcome, req.features, req.options);
      return { vmOutcome, vmFeatures: req.features, insights };
    }
  }
}

parentPort?.on('message', (req: WorkerRequest) => {
  try {
    parentPort?.postMessage({ id: req.id, result: handle(req) });
  } catch (err) {
    // Only the message crosses the thread boundary; the stack stays in the worker's log.
    console.error(`clustering worker: ${req.kind} failed`, err);
    parentPort?.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) });
  }
});
