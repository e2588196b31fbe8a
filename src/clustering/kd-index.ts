import type { Points } from './kmeans.ts';
import { principalComponents } from './pca.ts';

/**
 * Relative slack on every pruning bound: the projected coordinates are computed in floating point, so a
 * bound that is mathematically <= the true distance can come out a hair above it. Pruning a little less
 * keeps the index exact; the final test is always the caller's own arithmetic in the full space.
 */
export const SLACK = 1e-7;
/** Points per leaf: below this a linear scan of projected distances is cheaper than more bounding boxes. */
const LEAF_SIZE = 48;

/**
 * An exact neighbour index for any number of dimensions: a k-d tree over the points' coordinates on their
 * top principal axes. The axes are orthonormal, so the distance between two projections never exceeds the
 * true distance: a subtree whose box is out of range in the projection is out of range in the full
 * space. Candidates that survive are handed to the caller, which decides with true distances.
 *
 * Why a projection and not a tree over all dimensions: in the standardised 45-dimensional VM space a
 * k-d tree on the raw columns prunes almost nothing (each column holds a few percent of the variance),
 * while the top 10 principal axes of the bench's fleet hold 86% of it. The previous index (a sweep along
 * the first axis with 3 projected axes as a filter) scanned a slab holding a few percent of all rows per
 * query: 215 s for DBSCAN at 100k VMs.
 */
export class KdIndex {
  /** Row indices in tree order: each node covers a contiguous range of positions. */
  readonly order: Int32Array;
  /** Projected coordinates by position (axes contiguous per point). */
  readonly proj: Float64Array;
  readonly axes: number;
  // Nodes as parallel arrays; node 0 is the root, a leaf has left = -1.
  private readonly start: Int32Array;
  private readonly end: Int32Array;
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  /** Per node, axes minima then axes maxima of its points' projections. */
  private readonly box: Float64Array;
  /** Per node, the mean of its points' projections (axes values) and the largest distance to it. */
  private readonly centre: Float64Array;
  private readonly radius: Float64Array;
  private readonly nodes: number;
  private readonly stack: Int32Array;
  /** Projected query point of the current search. */
  private readonly query: Float64Array;
  /** Position of each row in `order`. */
  readonly position: Int32Array;

  constructor(
    readonly points: Points,
    maxAxes: number,
    leafSize = LEAF_SIZE,
  ) {
    const { rows } = points;
    const rotation = principalAxes(points, maxAxes);
    // No variance at all: every projection is 0 and the tree is one range of equal points, still correct.
    const axes = rotation ? rotation.axes : 1;
    // Projected coordinates, rows permuted along with `order` as the tree is built, so every pass over a
    // node reads a contiguous block.
    const work = rotation ? project(points, rotation) : new Float64Array(rows);
    this.axes = axes;
    this.query = new Float64Array(axes);
    const order = Int32Array.from({ length: rows }, (_, i) => i);
    const maxNodes = Math.max(1, 4 * Math.ceil(rows / leafSize));
    const start = new Int32Array(maxNodes);
    const end = new Int32Array(maxNodes);
    const left = new Int32Array(maxNodes).fill(-1);
    const right = new Int32Array(maxNodes).fill(-1);
    const box = new Float64Array(maxNodes * 2 * axes);
    const centre = new Float64Array(maxNodes * axes);
    const radius = new Float64Array(maxNodes);
    let nodes = 0;
    let depth = 1;
    const build = (from: number, to: number, level: number): number => {
      const node = nodes++;
      depth = Math.max(depth, level + 1);
      start[node] = from;
      end[node] = to;
      const b = node * 2 * axes;
      const o = node * axes;
      for (let c = 0; c < axes; c++) {
        box[b + c] = Number.POSITIVE_INFINITY;
        box[b + axes + c] = Number.NEGATIVE_INFINITY;
      }
      for (let p = from; p < to; p++) {
        const w = p * axes;
        for (let c = 0; c < axes; c++) {
          const v = work[w + c]!;
          if (v < box[b + c]!) box[b + c] = v;
          if (v > box[b + axes + c]!) box[b + axes + c] = v;
          centre[o + c]! += v;
        }
      }
      for (let c = 0; c < axes; c++) centre[o + c]! /= to - from;
      let r2 = 0;
      for (let p = from; p < to; p++) {
        let s = 0;
        const w = p * axes;
        for (let c = 0; c < axes; c++) {
          const d = work[w + c]! - centre[o + c]!;
          s += d * d;
        }
        if (s > r2) r2 = s;
      }
      radius[node] = Math.sqrt(r2) * (1 + SLACK);
      if (to - from <= leafSize) return node;
      let split = 0;
      let spread = -1;
      for (let c = 0; c < axes; c++) {
        const s = box[b + axes + c]! - box[b + c]!;
        if (s > spread) {
          spread = s;
          split = c;
        }
      }
      if (!(spread > 0)) return node;
      const mid = (from + to) >>> 1;
      selectNth(order, work, axes, from, to, mid, split);
      left[node] = build(from, mid, level + 1);
      right[node] = build(mid, to, level + 1);
      return node;
    };
    if (rows > 0) build(0, rows, 0);
    this.order = order;
    this.start = start;
    this.end = end;
    this.left = left;
    this.right = right;
    this.box = box;
    this.centre = centre;
    this.radius = radius;
    this.nodes = nodes;
    this.stack = new Int32Array(depth * 2 + 2);
    this.position = new Int32Array(rows);
    for (let p = 0; p < rows; p++) this.position[order[p]!] = p;
    this.proj = work;
  }

  /**
   * A lower bound of the squared distance from the current query's projection to any point of the node:
   * the larger of the box's and the ball's bound (the box is tight on the axes the tree split, the ball
   * on all the others at once).
   */
  private boxDistance(node: number): number {
    const { box, axes, query, centre } = this;
    const b = node * 2 * axes;
    const o = node * axes;
    let s = 0;
    let toCentre = 0;
    for (let c = 0; c < axes; c++) {
      const q = query[c]!;
      const lo = box[b + c]!;
      const hi = box[b + axes + c]!;
      const d = q < lo ? lo - q : q > hi ? q - hi : 0;
      s += d * d;
      const e = q - centre[o + c]!;
      toCentre += e * e;
    }
    const gap = (Math.sqrt(toCentre) - this.radius[node]!) * (1 - SLACK);
    return gap > 0 && gap * gap > s ? gap * gap : s;
  }

  /**
   * Squared distance of the query's projection to the projection at position p, or some partial sum
   * above `limit` as soon as one is (axes come by decreasing variance, so far points stop early).
   */
  private projected(p: number, limit: number): number {
    const { proj, axes, query } = this;
    let s = 0;
    const o = p * axes;
    for (let c = 0; c < axes; c++) {
      const d = query[c]! - proj[o + c]!;
      s += d * d;
      if (s > limit) return s;
    }
    return s;
  }

  private setQuery(row: number): void {
    const p = this.position[row]!;
    for (let c = 0; c < this.axes; c++) this.query[c] = this.proj[p * this.axes + c]!;
  }

  /**
   * Calls visit(j) for every row j whose true distance to `row` may be < eps (a superset of them, the row
   * itself included); visit returns false to stop early.
   */
  range(row: number, eps: number, visit: (j: number) => boolean): void {
    if (this.order.length === 0) return;
    this.setQuery(row);
    const reach = eps * (1 + SLACK);
    const reach2 = reach * reach;
    const { stack, left, right, start, end, order } = this;
    let top = 0;
    stack[top++] = 0;
    while (top > 0) {
      const node = stack[--top]!;
      // '>' rather than '>=': for the tiniest eps, reach2 underflows to 0 and must not exclude the point itself.
      if (this.boxDistance(node) > reach2) continue;
      if (left[node] === -1) {
        for (let p = start[node]!; p < end[node]!; p++) {
          if (this.projected(p, reach2) > reach2) continue;
          if (!visit(order[p]!)) return;
        }
      } else {
        stack[top++] = right[node]!;
        stack[top++] = left[node]!;
      }
    }
  }

  /**
   * Calls visit(i, j) for every pair of distinct rows whose true distance may be < eps (a superset of
   * them), each pair once. The tree is walked once per leaf rather than once per row: each leaf gathers
   * the leaves (itself and those after it in tree order) whose boxes and balls come within eps of its
   * own, then each of its rows tests those leaves' boxes alone and scans the ones in reach.
   */
  pairs(eps: number, visit: (i: number, j: number) => void): void {
    const rows = this.order.length;
    if (rows === 0) return;
    const reach = eps * (1 + SLACK);
    const reach2 = reach * reach;
    const { stack, left, right, start, end, order, proj, axes, box, query } = this;
    const leaves: number[] = [];
    for (let node = 0; node < this.nodes; node++) if (left[node] === -1) leaves.push(node);
    const near = new Int32Array(leaves.length);
    for (const leaf of leaves) {
      let count = 0;
      let top = 0;
      stack[top++] = 0;
      while (top > 0) {
        const node = stack[--top]!;
        if (end[node]! <= start[leaf]! || this.nodeGap(leaf, node) > reach2) continue;
        if (left[node] === -1) near[count++] = node;
        else {
          stack[top++] = right[node]!;
          stack[top++] = left[node]!;
        }
      }
      for (let p = start[leaf]!; p < end[leaf]!; p++) {
        for (let c = 0; c < axes; c++) query[c] = proj[p * axes + c]!;
        for (let n = 0; n < count; n++) {
          const other = near[n]!;
          // The point against the other leaf's box, stopping as soon as it is out of reach.
          const b = other * 2 * axes;
          let s = 0;
          for (let c = 0; c < axes && s <= reach2; c++) {
            const q = query[c]!;
            const lo = box[b + c]!;
            const hi = box[b + axes + c]!;
            const d = q < lo ? lo - q : q > hi ? q - hi : 0;
            s += d * d;
          }
          if (s > reach2) continue;
          for (let q = Math.max(p + 1, start[other]!); q < end[other]!; q++) {
            if (this.projected(q, reach2) > reach2) continue;
            visit(order[p]!, order[q]!);
          }
        }
      }
    }
  }

  /** A lower bound of the squared distance between any point of node a and any point of node b. */
  private nodeGap(a: number, b: number): number {
    const { box, centre, axes } = this;
    const ba = a * 2 * axes;
    const bb = b * 2 * axes;
    let s = 0;
    let between = 0;
    for (let c = 0; c < axes; c++) {
      const d = Math.max(0, box[ba + c]! - box[bb + axes + c]!, box[bb + c]! - box[ba + axes + c]!);
      s += d * d;
      const e = centre[a * axes + c]! - centre[b * axes + c]!;
      between += e * e;
    }
    const gap = (Math.sqrt(between) - this.radius[a]! - this.radius[b]!) * (1 - SLACK);
    return gap > 0 && gap * gap > s ? gap * gap : s;
  }

  /**
   * The k smallest values of squared(row, j) over all rows j (the row itself included), ascending, into
   * `out` (length k). `squared` must be the true squared distance, which the projection never exceeds.
   */
  nearest(row: number, out: Float64Array, squared: (j: number) => number): void {
    out.fill(Number.POSITIVE_INFINITY);
    if (this.order.length === 0) return;
    this.setQuery(row);
    const k = out.length;
    const { stack, left, right, start, end, order } = this;
    let top = 0;
    stack[top++] = 0;
    while (top > 0) {
      const node = stack[--top]!;
      if (this.boxDistance(node) * (1 - SLACK) > out[k - 1]!) continue;
      if (left[node] === -1) {
        for (let p = start[node]!; p < end[node]!; p++) {
          const limit = out[k - 1]!;
          if (this.projected(p, limit) * (1 - SLACK) > limit) continue;
          const s = squared(order[p]!);
          if (s >= limit) continue;
          let t = k - 1;
          while (t > 0 && out[t - 1]! > s) {
            out[t] = out[t - 1]!;
            t--;
          }
          out[t] = s;
        }
      } else {
        // Nearer child last on the stack, so it is searched first and tightens the bound for the other.
        const l = left[node]!;
        const r = right[node]!;
        if (this.boxDistance(l) <= this.boxDistance(r)) {
          stack[top++] = r;
          stack[top++] = l;
        } else {
          stack[top++] = l;
          stack[top++] = r;
        }
      }
    }
  }
}

/** Rows of the principal-axes estimate: the basis only steers pruning (any orthonormal one is exact). */
const BASIS_SAMPLE = 8192;

/**
 * Up to maxAxes orthonormal axes of largest variance, estimated on an evenly spaced subset of the rows
 * (deterministic, no seed needed). Null when that subset has no variance.
 */
function principalAxes(points: Points, maxAxes: number): { axes: number; basis: Float64Array } | null {
  const { data, rows, dims } = points;
  const step = Math.max(1, Math.floor(rows / BASIS_SAMPLE));
  const m = Math.ceil(rows / step);
  const mean = new Float64Array(dims);
  for (let i = 0; i < rows; i += step) for (let j = 0; j < dims; j++) mean[j]! += data[i * dims + j]!;
  for (let j = 0; j < dims; j++) mean[j]! /= Math.max(1, m);
  const centred = new Float64Array(m * dims);
  for (let r = 0, i = 0; i < rows; i += step, r++) for (let j = 0; j < dims; j++) centred[r * dims + j] = data[i * dims + j]! - mean[j]!;
  const pca = principalComponents(centred, m, dims, 1, Math.max(1, Math.min(maxAxes, dims)));
  if (!pca) return null;
  const basis = new Float64Array(pca.components * dims);
  for (let c = 0; c < pca.components; c++) basis.set(pca.basis[c]!, c * dims);
  return { axes: pca.components, basis };
}

/** Every row's coordinates on the axes (not centred: distances do not care). */
function project(points: Points, rotation: { axes: number; basis: Float64Array }): Float64Array {
  const { data, rows, dims } = points;
  const { axes, basis } = rotation;
  const out = new Float64Array(rows * axes);
  for (let i = 0; i < rows; i++) {
    const o = i * dims;
    for (let c = 0; c < axes; c++) {
      const v = c * dims;
      let s = 0;
      for (let j = 0; j < dims; j++) s += data[o + j]! * basis[v + j]!;
      out[i * axes + c] = s;
    }
  }
  return out;
}

/**
 * Reorders positions [from, to) (entries of `order` and rows of `work` together) so that position nth
 * holds the row a full sort would put there, smaller ones before it and larger ones after (Hoare's
 * quickselect, median-of-three pivots). Keys are the coordinate on `axis`, ties broken by row index, so
 * the tree is the same on every run.
 */
function selectNth(order: Int32Array, work: Float64Array, axes: number, from: number, to: number, nth: number, axis: number): void {
  const less = (ka: number, a: number, kb: number, b: number): boolean => ka < kb || (ka === kb && a < b);
  const swap = (x: number, y: number): void => {
    const t = order[x]!;
    order[x] = order[y]!;
    order[y] = t;
    const ox = x * axes;
    const oy = y * axes;
    for (let c = 0; c < axes; c++) {
      const v = work[ox + c]!;
      work[ox + c] = work[oy + c]!;
      work[oy + c] = v;
    }
  };
  const key = (p: number): number => work[p * axes + axis]!;
  let lo = from;
  let hi = to - 1;
  while (hi > lo) {
    const m = (lo + hi) >>> 1;
    // Median of three as pivot.
    const [a, b, c] = [lo, m, hi];
    const lessAt = (x: number, y: number): boolean => less(key(x), order[x]!, key(y), order[y]!);
    const pivotAt = lessAt(a, b) ? (lessAt(b, c) ? b : lessAt(a, c) ? c : a) : lessAt(a, c) ? a : lessAt(b, c) ? c : b;
    const pk = key(pivotAt);
    const pr = order[pivotAt]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (less(key(i), order[i]!, pk, pr)) i++;
      while (less(pk, pr, key(j), order[j]!)) j--;
      if (i <= j) {
        if (i !== j) swap(i, j);
        i++;
        j--;
      }
    }
    if (nth <= j) hi = j;
    else if (nth >= i) lo = i;
    else return;
  }
}
