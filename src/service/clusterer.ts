/**
 * Where clustering runs execute. The service uses a worker thread so that a run of 10k+ VMs never blocks
 * the event loop (API and consumer keep answering); replay and tests may run inline, with the same result.
 */
import { Worker } from 'node:worker_threads';
import type { AffinityGroups } from '../runs/affinity.ts';
import { type ClusteringRun, type RunOptions, runClustering, withAffinity } from '../runs/clustering-run.ts';
import type { FleetSnapshot, VmPairs } from '../runs/snapshot.ts';
import type { WorkerRequest } from './cluster-worker.ts';

export interface Clusterer {
  run(snapshot: FleetSnapshot, runId: string, options: RunOptions): Promise<ClusteringRun>;
  close(): Promise<void>;
}

export class InlineClusterer implements Clusterer {
  async run(snapshot: FleetSnapshot, runId: string, options: RunOptions): Promise<ClusteringRun> {
    return runClustering(snapshot, runId, options);
  }

  async close(): Promise<void> {}
}

/**
 * Running from TypeScript sources, the worker needs the TypeScript loader too. Node 20 does not carry
 * loader hooks into worker threads, so the worker registers tsx itself before importing its entry.
 */
function createWorker(entry: URL): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry);
  const bootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { eval: true });
}

interface WorkerReply {
  id: number;
  result?: unknown;
  error?: string;
}

/** One worker thread and the requests waiting on it; the thread starts on first use. */
class WorkerChannel {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = createWorker(new URL('./cluster-worker.ts', import.meta.url));
    w.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
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

  request<T>(request: DistributiveOmit<WorkerRequest, 'id'>, transfer: ArrayBuffer[]): Promise<T> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject });
      worker.postMessage({ ...request, id }, transfer);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function copyPairs(pairs: VmPairs): VmPairs {
  return { a: pairs.a.slice(), b: pairs.b.slice(), bytes: pairs.bytes.slice() };
}

/**
 * Two worker threads, one run at a time (the service never asks for two at once): the clustering stages
 * in one, the affinity groups (Louvain on the traffic graph, which needs nothing from the clusters) in the
 * other at the same time. The result is runClustering's, as InlineClusterer gives it.
 */
export class WorkerClusterer implements Clusterer {
  private readonly stages = new WorkerChannel();
  private readonly affinity = new WorkerChannel();

  async run(snapshot: FleetSnapshot, runId: string, options: RunOptions): Promise<ClusteringRun> {
    const started = performance.now();
    // The affinity worker gets its own copy of the traffic graph: the originals are transferred to the
    // clustering worker with the rest of the snapshot, and the graph is small next to the feature matrix.
    const pairs = copyPairs(snapshot.vmPairs);
    const affinity = this.affinity.request<{ affinity: AffinityGroups; ms: number }>(
      { kind: 'affinity', vmCount: snapshot.vmIds.length, pairs, options },
      [pairs.a.buffer, pairs.b.buffer, pairs.bytes.buffer] as ArrayBuffer[],
    );
    // The feature matrix is the bulk of the message: transfer it rather than copy it.
    const transfer = [
      snapshot.vmFeatures.data.buffer,
      snapshot.vmBytes.buffer,
      snapshot.vmExternalBytes.buffer,
      snapshot.vmSameTenantBytes.buffer,
      snapshot.vmPairs.a.buffer,
      snapshot.vmPairs.b.buffer,
      snapshot.vmPairs.bytes.buffer,
    ] as ArrayBuffer[];
    const stages = this.stages.request<ClusteringRun>({ kind: 'stages', snapshot, runId, options }, transfer);
    const [run, groups] = await Promise.all([stages, affinity]);
    return withAffinity(run, groups.affinity, groups.ms, performance.now() - started);
  }

  async close(): Promise<void> {
    await Promise.all([this.stages.close(), this.affinity.close()]);
  }
}
