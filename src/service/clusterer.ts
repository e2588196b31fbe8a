/**
 * Where clustering runs execute. The service uses a worker thread so that a run of 10k+ VMs never blocks
 * the event loop (API and consumer keep answering); replay and tests may run inline, with the same result.
 */
import { Worker } from 'node:worker_threads';
import { type ClusteringRun, type RunOptions, runClustering } from '../runs/clustering-run.ts';
import type { FleetSnapshot } from '../runs/snapshot.ts';

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
  run?: ClusteringRun;
  error?: string;
}

/** One worker thread, one run at a time (the service never asks for two at once). */
export class WorkerClusterer implements Clusterer {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: ClusteringRun) => void; reject: (e: Error) => void }>();

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = createWorker(new URL('./cluster-worker.ts', import.meta.url));
    w.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.run) p.resolve(reply.run);
      else p.reject(new Error(reply.error ?? 'clustering failed'));
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

  run(snapshot: FleetSnapshot, runId: string, options: RunOptions): Promise<ClusteringRun> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // The feature matrix is the bulk of the message: transfer it rather than copy it.
      const transfer = [
        snapshot.vmFeatures.data.buffer,
        snapshot.vmBytes.buffer,
        snapshot.vmExternalBytes.buffer,
        snapshot.vmSameTenantBytes.buffer,
        snapshot.vmPairs.a.buffer,
        snapshot.vmPairs.b.buffer,
        snapshot.vmPairs.bytes.buffer,
      ];
      worker.postMessage({ id, snapshot, runId, options }, transfer as ArrayBuffer[]);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
