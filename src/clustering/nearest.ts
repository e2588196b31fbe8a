/**
 * k-th nearest reference point for every row, without comparing every row with every reference. The
 * references are projected on their top principal axes (orthonormal, so projected distances never exceed
 * true ones) and sorted by the first; each row walks outwards from its place in that order, nearer side
 * first, and stops once the gap on the first axis alone exceeds its current k-th best. The answer is the
 * brute-force scan's, bit for bit: the same squared sums, first dimension to last, and a multiset's k-th
 * smallest value does not depend on the order it is visited in.
 */
import { principalComponents } from './pca.ts';

/** Relative slack on the pruning bounds: projections are rounded, so never prune on a hair's breadth. */
const SLACK = 1e-7;
const AXES = 3;

/** The brute-force version: every row against every reference (a row is never its own neighbour). */
export function kthNearestBruteForce(points: Float64Array, rows: number, dims: number, k: number, refs: Int32Array): Float64Array {
  const out = new Float64Array(rows);
  // The k smallest squared distances so far, ascending.
  const best = new Float64Array(k);
  for (let i = 0; i < rows; i++) {
    best.fill(Number.POSITIVE_INFINITY);
    const oi = i * dims;
    for (let r = 0; r < refs.length; r++) {
      const j = refs[r]!;
      if (j === i) continue;
      const oj = j * dims;
      let s = 0;
      const limit = best[k - 1]!;
      for (let t = 0; t < dims && s < limit; t++) {
        const v = points[oi + t]! - points[oj + t]!;
        s += v * v;
      }
      if (s >= limit) continue;
      let p = k - 1;
      while (p > 0 && best[p - 1]! > s) {
        best[p] = best[p - 1]!;
        p--;
      }
      best[p] = s;
    }
    const kth = best[k - 1]!;
    out[i] = Number.isFinite(kth) ? Math.sqrt(kth) : 0;
  }
  return out;
}

/** Distance from each row to its k-th nearest other row among `refs`; 0 when there are fewer than k. */
export function kthNearest(points: Float64Array, rows: number, dims: number, k: number, refs: Int32Array): Float64Array {
  const m = refs.length;
  // Too few references for an index to pay for itself.
  if (m < 64 || dims < 2) return kthNearestBruteForce(points, rows, dims, k, refs);
  const mean = new Float64Array(dims);
  for (let r = 0; r < m; r++) for (let j = 0; j < dims; j++) mean[j]! += points[refs[r]! * dims + j]!;
  for (let j = 0; j < dims; j++) mean[j]! /= m;
  const centred = new Float64Array(m * dims);
  for (let r = 0; r < m; r++) for (let j = 0; j < dims; j++) centred[r * dims + j] = points[refs[r]! * dims + j]! - mean[j]!;
  const pca = principalComponents(centred, m, dims, 1, AXES);
  if (pca === null) return kthNearestBruteForce(points, rows, dims, k, refs);
  const axes = pca.components;
  const basis = pca.basis;
  const project = (row: number, out: Float64Array, at: number): void => {
    for (let c = 0; c < axes; c++) {
      const v = basis[c]!;
      let s = 0;
      for (let j = 0; j < dims; j++) s += (points[row * dims + j]! - mean[j]!) * v[j]!;
      out[at + c] = s;
    }
  };
  // References sorted by their first coordinate, with their projections and rows in that order.
  const order = Int32Array.from({ length: m }, (_, r) => r).sort((a, b) => pca.data[a * axes]! - pca.data[b * axes]! || a - b);
  const refRow = Int32Array.from(order, (r) => refs[r]!);
  const proj = new Float64Array(m * axes);
  for (let q = 0; q < m; q++) for (let c = 0; c < axes; c++) proj[q * axes + c] = pca.data[order[q]! * axes + c]!;

  const out = new Float64Array(rows);
  const best = new Float64Array(k);
  const x = new Float64Array(axes);
  const consider = (i: number, q: number): void => {
    const j = refRow[q]!;
    if (j === i) return;
    const limit = best[k - 1]!;
    let lb = 0;
    for (let c = 0; c < axes; c++) {
      const d = proj[q * axes + c]! - x[c]!;
      lb += d * d;
    }
    if (lb * (1 - SLACK) > limit) return;
    const oi = i * dims;
    const oj = j * dims;
    let s = 0;
    for (let t = 0; t < dims && s < limit; t++) {
      const v = points[oi + t]! - points[oj + t]!;
      s += v * v;
    }
    if (s >= limit) return;
    let p = k - 1;
    while (p > 0 && best[p - 1]! > s) {
      best[p] = best[p - 1]!;
      p--;
    }
    best[p] = s;
  };
  for (let i = 0; i < rows; i++) {
    best.fill(Number.POSITIVE_INFINITY);
    project(i, x, 0);
    const x0 = x[0]!;
    // First reference at or after x0 on the first axis.
    let lo = 0;
    let hi = m;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (proj[mid * axes]! < x0) lo = mid + 1;
      else hi = mid;
    }
    let down = lo - 1;
    let up = lo;
    for (;;) {
      const bound = best[k - 1]! * (1 + SLACK);
      const gapDown = down >= 0 ? x0 - proj[down * axes]! : Number.POSITIVE_INFINITY;
      const gapUp = up < m ? proj[up * axes]! - x0 : Number.POSITIVE_INFINITY;
      const downOk = down >= 0 && gapDown * gapDown * (1 - SLACK) <= bound;
      const upOk = up < m && gapUp * gapUp * (1 - SLACK) <= bound;
      if (!downOk && !upOk) break;
      if (downOk && (!upOk || gapDown <= gapUp)) consider(i, down--);
      else consider(i, up++);
    }
    const kth = best[k - 1]!;
    out[i] = Number.isFinite(kth) ? Math.sqrt(kth) : 0;
  }
  return out;
}
