/**
 * Where clustering runs execute. The service uses a worker thread so that a run of 10k+ VMs never blocks
 * the event loop (API and consumer keep answering); replay and tests may run inline, with the same result.
 */
import { Worker } from 'node:worker_threads';
import type { AffinityGroups } from '../runs/affinity.ts';
import {
  assembleRun,
  type runPlacement,
  type ClusteringRun,
  type PreviousRun,
  type RunOptions,
  type RunParts,
  runClustering,
  type TenantClustering,
  type TenantInputs,
} from '../runs/clustering-run.ts';
import type { RunInput } from '../runs/run-input.ts';
import { columnBuffers, packStrings } from '../core/string-column.ts';
import type { PlacementPlan } from '../placement/advice.ts';
import { placementInput } from '../placement/run-placement.ts';
import type { VmLabelsProgress, WorkerRequest } from './cluster-worker.ts';
import { packPlacementInputSteps, packPrevious, packTenantInputs } from './worker-messages.ts';
import { inSlices } from '../core/slices.ts';

export interface Clusterer {
  /** With the previous run, the run starts warm from its clusters and searches k only on drift (clustering/drift.ts). */
  run(input: RunInput, runId: string, options: RunOptions, previous?: PreviousRun | null): Promise<ClusteringRun>;
  close(): Promise<void>;
}

export class InlineClusterer implements Clusterer {
  async run(input: RunInput, runId: string, options: RunOptions, previous: PreviousRun | null = null): Promise<ClusteringRun> {
    return runClustering(input, runId, options, previous);
  }

  async close(): Promise<void> {}
}

/**
 * Running from TypeScript sources, the worker needs the TypeScript loader too. Node 20 does not carry
 * loader hooks into worker threads, so the worker registers tsx itself before importing its entry.
 */
export function createWorker(entry: URL, options: { workerData?: unknown } = {}): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);
  const bootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/** The worker's entry beside this module: `.ts` run from the sources, `.js` compiled to dist/ (npm run build). */
const WORKER_ENTRY = new URL(`./cluster-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

interface WorkerReply {
  id: number;
  progress?: unknown;
  result?: unknown;
  error?: string;
}

interface PendingRequest {
  resolve: (r: unknown) => void;
  reject: (e: Error) => void;
  onProgress?: (p: unknown) => void;
}

/** One worker thread and the requests waiting on it; the thread starts on first use. */
class WorkerChannel {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, PendingRequest>();

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = createWorker(WORKER_ENTRY);
    w.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      if (reply.progress !== undefined) {
        p.onProgress?.(reply.progress);
        return;
      }
      this.pending.delete(reply.id);
      if (this.pending.size === 0) w.unref();
      if (reply.error === undefined) p.resolve(reply.result);
      else p.reject(new Error(reply.error));
    });
    w.on('error', (err) => this.failAll(err));
    w.on('exit', (code) => {
      this.worker = null;
      if (code !== 0) this.failAll(new Error(`clustering worker exited with code ${code}`));
    });
    w.unref();
    this.worker = w;
    return w;
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  request<T>(request: DistributiveOmit<WorkerRequest, 'id'>, transfer: ArrayBuffer[], onProgress?: (p: unknown) => void): Promise<T> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject, ...(onProgress ? { onProgress } : {}) });
      // A run in flight keeps the process alive (a script awaiting it has nothing else pending); an idle worker does not.
      worker.ref();
      worker.postMessage({ ...request, id }, transfer);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}

/** Longest the placement request's packing holds the event loop at once: the service serves reads meanwhile. */
const PACK_SLICE_MS = 4;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * Two worker threads, one run at a time (the service never asks for two at once). The VM clusters are
 * the long stage; what does not need them or needs only their labels runs on the second thread meanwhile:
 *
 *   thread 1: VM clusters ------------------> explanations, anomalies, projection
 *   thread 2: affinity groups (traffic graph)   tenant clusters (from the VM labels)
 *
 * The result is runClustering's, as InlineClusterer gives it.
 */
export class WorkerClusterer implements Clusterer {
  private readonly first = new WorkerChannel();
  private readonly second = new WorkerChannel();

  async run(input: RunInput, runId: string, options: RunOptions, previous: PreviousRun | null = null): Promise<ClusteringRun> {
    const started = performance.now();
    // Thread 2 gets a copy of the traffic graph (small next to the features): the run keeps the original.
    const { a, b, bytes } = input.vmPairs;
    const pairs = { a: a.slice(), b: b.slice(), bytes: bytes.slice() };
    const affinity = this.second.request<{ affinity: AffinityGroups; ms: number }>(
      { kind: 'affinity', vmCount: input.vmIds.length, pairs, options },
      [pairs.a.buffer, pairs.b.buffer, pairs.bytes.buffer] as ArrayBuffer[],
    );
    let tenants: Promise<TenantClustering> | null = null;
    const requestTenants = (progress: unknown): void => {
      const { labels, k, searched } = progress as VmLabelsProgress;
      const inputs: TenantInputs = {
        windowMs: input.windowMs,
        tenants: input.tenants,
        vmTenants: input.vmTenants,
        vmVpcs: input.vmVpcs,
        vmBytes: input.vmBytes,
        vmExternalBytes: input.vmExternalBytes,
        vmSameTenantBytes: input.vmSameTenantBytes,
      };
      const packedInputs = packTenantInputs(inputs);
      const packedPrevious = packPrevious(previous, 'tenants');
      tenants = this.second.request<TenantClustering>(
        { kind: 'tenants', inputs: packedInputs.value, vmLabels: labels, vmClusters: k, options, previous: packedPrevious.value, vmSearched: searched },
        [...packedInputs.transfer, ...packedPrevious.transfer],
      );
      // Awaited below once the VM side is done; a failure before then must not count as unhandled.
      tenants.catch(() => {});
    };
    // The feature matrix is the bulk of the message: transfer it rather than copy it (it comes back likewise).
    const vmIds = packStrings(input.vmIds);
    const vmPrevious = packPrevious(previous, 'vms');
    const vms = await this.first.request<Pick<RunParts, 'vmOutcome' | 'vmFeatures' | 'insights'>>(
      { kind: 'vms', features: input.vmFeatures, options, vmIds, previous: vmPrevious.value },
      [input.vmFeatures.data.buffer as ArrayBuffer, ...columnBuffers(vmIds), ...vmPrevious.transfer],
      requestTenants,
    ).catch(async (err: unknown) => {
      await affinity.catch(() => {});
      throw err;
    });
    if (tenants === null) throw new Error('clustering worker sent no VM labels');
    // Placement needs the affinity groups: on thread 2 after them (it is one block of main-thread CPU otherwise).
    const placed = affinity.then(async (groups) => {
      const on = await inSlices(packPlacementInputSteps(input), PACK_SLICE_MS);
      return this.second.request<{ plan: PlacementPlan | null; ms: number }>({ kind: 'placement', input: on.value, affinityGroup: groups.affinity.group, options }, on.transfer);
    });
    placed.catch(() => {});
    const [groups, tenantSide, advice] = await Promise.all([affinity, tenants as Promise<TenantClustering>, placed]);
    // The advice's input made here, as inline (runPlacement), on the run's graph and groups: one copy in the run (and its records).
    const placement: ReturnType<typeof runPlacement> = {
      placement:
        advice.plan === null || input.placement === undefined
          ? undefined
          : { plan: advice.plan, input: placementInput(input.vmIds, input.vmTenants, input.placement, input.vmPairs, groups.affinity.group, input.windowMs) },
      ms: advice.ms,
    };
    const run = assembleRun(input, runId, { ...vms, tenants: tenantSide, affinity: groups.affinity, placement }, 0, options);
    vms.vmOutcome.timings.affinity = groups.ms;
    run.durationMs = performance.now() - started;
    return run;
  }

  async close(): Promise<void> {
    await Promise.all([this.first.close(), this.second.close()]);
  }
}
