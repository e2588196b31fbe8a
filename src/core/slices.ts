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

/** Runs `steps` to its end, giving the event loop back whenever a slice has taken `sliceMs`. */
export function inSlices<T>(steps: Generator<unknown, T, void>, sliceMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const slice = (): void => {
      try {
        const until = performance.now() + sliceMs;
        for (;;) {
          const step = steps.next();
          if (step.done === true) {
            resolve(step.value);
            return;
          }
          if (performance.now() >= until) break;
        }
        setImmediate(slice);
      } catch (err) {
        reject(err);
      }
    };
    slice();
  });
}

/**
 * Resolves after the event loop has polled for I/O once more: a setImmediate queued from an I/O callback (a
 * worker's message) runs before the next poll, so work started there lengthened the same block; one queued
 * from inside a setImmediate callback runs after it. Requests waiting meanwhile are answered in between.
 */
export function afterNextPoll(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}
