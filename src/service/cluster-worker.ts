/** Worker-thread entry: runs one clustering run per message, off the service's event loop. */
import { parentPort } from 'node:worker_threads';
import { type RunOptions, runClustering } from '../runs/clustering-run.ts';
import type { FleetSnapshot } from '../runs/snapshot.ts';

interface Request {
  id: number;
  snapshot: FleetSnapshot;
  runId: string;
  options: RunOptions;
}

parentPort?.on('message', (req: Request) => {
  try {
    const run = runClustering(req.snapshot, req.runId, req.options);
    parentPort?.postMessage({ id: req.id, run });
  } catch (err) {
    // Only the message crosses the thread boundary; the stack stays in the worker's log.
    console.error('clustering run failed', err);
    parentPort?.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) });
  }
});
