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
