/**
 * Work cut into steps (a generator: what a step yields is for tests, for instance the VMs it covered) is run
 * by the caller: at once where nothing else waits (replay, tests), or in slices where a server shares the
 * event loop with it.
 */

/** Runs `steps` to its end at once. */
export function runToEnd<T>(steps: Generator<unknown, T, void>): T {
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

/**
 * Runs `steps` to its end, giving the event loop back whenever a slice has taken `sliceMs`. The first slice
 * runs at once, in the caller's block; the later ones take turns with every other job's (sliced), one slice
 * a turn of the event loop. Each job queued its own next slice before, so that N jobs at once (a run's
 * security groups, the API's run index, the run record's encoding) held one turn of the loop for N slices
 * and a read waited behind all of them.
 */
export function inSlices<T>(steps: Generator<unknown, T, void>, sliceMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    /** True once settled. */
    const slice = (): boolean => {
      try {
        const until = performance.now() + sliceMs;
        for (;;) {
          const step = steps.next();
          if (step.done === true) {
            resolve(step.value);
            return true;
          }
          if (performance.now() >= until) return false;
        }
      } catch (err) {
        reject(err);
        return true;
      }
    };
    if (!slice()) {
      waiting.push(slice);
      schedule();
    }
  });
}

/** Sliced jobs waiting for their next slice, in turn; one slice runs a turn of the event loop. */
const waiting: Array<() => boolean> = [];
let scheduled = false;

function schedule(): void {
  if (scheduled || waiting.length === 0) return;
  scheduled = true;
  setImmediate(nextSlice);
}

function nextSlice(): void {
  scheduled = false;
  const slice = waiting.shift();
  if (slice !== undefined && !slice()) waiting.push(slice);
  schedule();
}

/**
 * Resolves after the event loop has polled for I/O once more: a setImmediate queued from an I/O callback (a
 * worker's message) runs before the next poll, so work started there lengthened the same block; one queued
 * from inside a setImmediate callback runs after it. Requests waiting meanwhile are answered in between.
 */
export function afterNextPoll(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}
