/**
 * A stable sort in steps: what `Array.prototype.sort` gives (stable since V8 7.0), cut into steps of at
 * most a given number of elements placed, so that a process that serves reads sorts a fleet's VMs (12 ms
 * of the loop at once at 11.6k VMs) between them. A bottom-up merge sort: runs of SORT_RUN elements
 * sorted by insertion, then merged pairwise into a second array, back and forth.
 */

/** Elements of a first run, sorted by insertion: a step places whole runs, so a multiple of this is exact. */
export const SORT_RUN = 32;

/**
 * The elements of `items` (left unchanged) in the order `compare` gives, ties in their given order, as steps
 * that each yield how many elements they placed: `perStep` (a multiple of SORT_RUN keeps every step but the
 * last exactly that), counted once for the runs and once per merge pass.
 */
export function* sortSteps<T>(items: readonly T[], compare: (a: T, b: T) => number, perStep: number): Generator<number, T[], void> {
  const n = items.length;
  // Copies, so packed arrays (a holey one is slower to walk and to serialise).
  let from = items.slice();
  let to = items.slice();
  let inStep = 0;
  for (let lo = 0; lo < n; lo += SORT_RUN) {
    const hi = Math.min(n, lo + SORT_RUN);
    for (let j = lo + 1; j < hi; j++) {
      const e = from[j]!;
      let k = j - 1;
      while (k >= lo && compare(from[k]!, e) > 0) {
        from[k + 1] = from[k]!;
        k--;
      }
      from[k + 1] = e;
    }
    inStep += hi - lo;
    if (inStep >= perStep) {
      yield inStep;
      inStep = 0;
    }
  }
  for (let width = SORT_RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(n, lo + width);
      const hi = Math.min(n, lo + 2 * width);
      let i = lo;
      let j = mid;
      for (let k = lo; k < hi; k++) {
        // From the left on ties: stable.
        if (j >= hi || (i < mid && compare(from[i]!, from[j]!) <= 0)) to[k] = from[i++]!;
        else to[k] = from[j++]!;
        if (++inStep >= perStep) {
          yield inStep;
          inStep = 0;
        }
      }
    }
    [from, to] = [to, from];
  }
  if (inStep > 0) yield inStep;
  return from;
}
