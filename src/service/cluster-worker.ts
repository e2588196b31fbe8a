/**
 * Worker-thread entry, off the service's event loop. The service starts two of these (clusterer.ts): one
 * takes the clustering stages of a run, the other the affinity groups of the same snapshot meanwhile.
 */
import { parentPort } from 'node:worker_threads';
import { type RunOptions, runAffinity, runClusteringStages } from '../runs/clustering-run.ts';
import type { FleetSnapshot, VmPairs } from '../runs/snapshot.ts';

export type WorkerRequest =
  | { id: number; kind: 'stages'; snapshot: FleetSnapshot; runId: string; options: RunOptions }
  | { id: number; kind: 'affinity'; vmCount: number; pairs: VmPairs; options: RunOptions };

function handle(req: WorkerRequest): unknown {
  if (req.kind === 'affinity') {
    const started = performance.now();
    const affinity = runAffinity(req.vmCount, req.pairs, req.options);
    return { affinity, ms: performance.now() - started };
  }
  return runClusteringStages(req.snapshot, req.runId, req.options);
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
