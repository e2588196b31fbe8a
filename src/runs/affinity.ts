/**
 * Traffic affinity groups: the VMs that talk to each other most, found as communities (Louvain, from
 * graphology-communities-louvain) of the window's VM-to-VM traffic graph. These are the groups a placement
 * engine would keep on one host or rack. Pure and deterministic: the graph is built in a fixed order and
 * Louvain's random walk draws from a seeded generator.
 */
import { UndirectedGraph } from 'graphology';
import louvainModule from 'graphology-communities-louvain';
import { Random } from '../core/random.ts';
import type { VmPairs } from './run-input.ts';

export interface AffinityOptions {
  seed: number;
  /** Louvain's resolution: above 1 favours smaller groups. */
  resolution: number;
}

const defaultAffinityOptions: AffinityOptions = { seed: 1, resolution: 1 };

type Louvain = typeof louvainModule.default;
// The package is CommonJS with `module.exports = fn` but types it as an ES default export: under NodeNext
// TypeScript sees the function one `.default` deeper than Node loads it. Either shape is accepted.
const louvain: Louvain = (louvainModule as unknown as { default?: Louvain }).default ?? (louvainModule as unknown as Louvain);

/** Plain data so that it crosses the worker-thread boundary. */
export interface AffinityGroups {
  /** Group of each VM, parallel to the run's ids: numbered by size (0 the largest), ties by smallest member row. */
  group: Int32Array;
  sizes: number[];
  /** Modularity of the partition (0 when the graph has no edges). */
  modularity: number;
  edges: number;
}

/**
 * Weights are log(1 + bytes): traffic volumes span orders of magnitude between applications, and raw
 * bytes would let one bulk transfer outweigh every RPC link of a small application, merging it into its
 * storage backend's group. VMs without VM-to-VM traffic form groups of one.
 */
export function affinityGroups(vmCount: number, pairs: VmPairs, options: Partial<AffinityOptions> = {}): AffinityGroups {
  const o = { ...defaultAffinityOptions, ...options };
  const graph = new UndirectedGraph({ allowSelfLoops: false });
  for (let i = 0; i < vmCount; i++) graph.addNode(String(i));
  let edges = 0;
  for (let e = 0; e < pairs.a.length; e++) {
    const a = pairs.a[e]!;
    const b = pairs.b[e]!;
    const bytes = pairs.bytes[e]!;
    if (a === b || !(bytes > 0) || a >= vmCount || b >= vmCount) continue;
    graph.mergeEdge(String(a), String(b), { weight: Math.log1p(bytes) });
    edges++;
  }
  const raw = new Int32Array(vmCount);
  let modularity = 0;
  if (edges > 0) {
    const rng = new Random(o.seed);
    const detailed = louvain.detailed(graph, { getEdgeWeight: 'weight', resolution: o.resolution, rng: () => rng.next() });
    modularity = detailed.modularity;
    for (let i = 0; i < vmCount; i++) raw[i] = detailed.communities[String(i)] ?? -1;
  } else {
    for (let i = 0; i < vmCount; i++) raw[i] = i;
  }
  return { ...renumberBySize(raw), modularity, edges };
}

function renumberBySize(raw: Int32Array): Pick<AffinityGroups, 'group' | 'sizes'> {
  const size = new Map<number, number>();
  const first = new Map<number, number>();
  raw.forEach((c, i) => {
    size.set(c, (size.get(c) ?? 0) + 1);
    if (!first.has(c)) first.set(c, i);
  });
  const order = [...size.keys()].sort((a, b) => size.get(b)! - size.get(a)! || first.get(a)! - first.get(b)!);
  const map = new Map<number, number>(order.map((c, i) => [c, i]));
  return {
    group: Int32Array.from(raw, (c) => map.get(c)!),
    sizes: order.map((c) => size.get(c)!),
  };
}
