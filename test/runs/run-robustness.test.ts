/**
 * A clustering run never fails, whatever the fleet looks like: property-based tests (fast-check, fixed
 * seeds, bounded runs) that push generated fleets of every awkward shape through whole runs, as the
 * service and replay do (run, stable ids, the result document, the API's index, the saved model and the
 * provisional placement a restart makes from it), and check that each result is consistent.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TENANT_BASE_FEATURES } from '../../src/features/tenant-features.ts';
import { VM_FEATURE_COUNT, VM_FEATURES } from '../../src/features/vm-features.ts';
import { runIndex } from '../../src/http/run-index.ts';
import { Random } from '../../src/core/random.ts';
import { type ClusteringRun, NOISE_CLUSTER_ID, type RunOptions, runClustering, type Side } from '../../src/runs/clustering-run.ts';
import { runRecord } from '../../src/runs/history.ts';
import { assignIdentities, initialIdentity, type IdentityState } from '../../src/runs/identity.ts';
import { buildModelDocument, parseModelDocument, provisionalRun } from '../../src/runs/model-document.ts';
import { buildResult } from '../../src/runs/result.ts';
import type { RunInput, TenantInfo } from '../../src/runs/run-input.ts';

type FeatureShape = 'random' | 'blobs' | 'identical' | 'zero' | 'unknown-attributes';
type VmAlgorithm = 'kmeans' | 'dbscan' | 'dbscan-all-noise';

/** What the generator varies; the bulk of the numbers comes from a seeded PRNG, so that shrinking stays cheap. */
interface FleetShape {
  vms: number;
  features: FeatureShape;
  /** Tenants that own VMs; each VM gets one of them or none (a VM whose attributes never came). */
  tenants: number;
  vmsWithoutTenant: number;
  /** Tenants known from their attributes only, without a VM in the window. */
  tenantsWithoutVms: number;
  deleteFirstTenant: boolean;
  traffic: 'zero' | 'random';
  pairs: boolean;
  vmAlgorithm: VmAlgorithm;
  tenantAlgorithm: 'kmeans' | 'dbscan';
  seed: number;
}

const shape: fc.Arbitrary<FleetShape> = fc.record({
  vms: fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.integer({ min: 0, max: 40 })),
  features: fc.constantFrom<FeatureShape>('random', 'blobs', 'identical', 'zero', 'unknown-attributes'),
  tenants: fc.oneof(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 6 })),
  vmsWithoutTenant: fc.integer({ min: 0, max: 40 }),
  tenantsWithoutVms: fc.integer({ min: 0, max: 3 }),
  deleteFirstTenant: fc.boolean(),
  traffic: fc.constantFrom<'zero' | 'random'>('zero', 'random'),
  pairs: fc.boolean(),
  vmAlgorithm: fc.constantFrom<VmAlgorithm>('kmeans', 'dbscan', 'dbscan-all-noise'),
  tenantAlgorithm: fc.constantFrom<'kmeans' | 'dbscan'>('kmeans', 'dbscan'),
  seed: fc.integer({ min: 0, max: 0x7fffffff }),
});

/** A run input as takeRunInput gives one: built afresh on each call, since a run imputes its features in place. */
function runInputOf(s: FleetShape, watermark: number): RunInput {
  const rnd = new Random(s.seed);
  const n = s.vms;
  const cols = VM_FEATURE_COUNT;
  const data = new Float64Array(n * cols);
  const centres = Array.from({ length: 3 }, () => Array.from({ length: cols }, () => rnd.uniform(0, 5)));
  const identical = Array.from({ length: cols }, () => rnd.uniform(0, 3));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < cols; j++) {
      let v: number;
      switch (s.features) {
        case 'random':
          v = rnd.uniform(0, 4);
          break;
        case 'blobs':
          v = centres[i % 3]![j]! + rnd.normal(0, 0.05);
          break;
        case 'identical':
          v = identical[j]!;
          break;
        case 'zero':
          v = 0;
          break;
        case 'unknown-attributes':
          // Whole columns unknown (no VM's attributes came) and scattered gaps: the run imputes them.
          v = j < 3 || rnd.chance(0.2) ? Number.NaN : rnd.uniform(0, 2);
          break;
      }
      data[i * cols + j] = v;
    }
  }
  const tenantIds = Array.from({ length: s.tenants }, (_, t) => `tenant-${String(t).padStart(2, '0')}`);
  const vmTenants = Array.from({ length: n }, (_, i) => (tenantIds.length === 0 || i < s.vmsWithoutTenant ? null : rnd.pick(tenantIds)));
  const bytes = Float64Array.from({ length: n }, () => (s.traffic === 'zero' ? 0 : rnd.logUniform(1, 1e9)));
  const tenants: TenantInfo[] = [
    ...tenantIds.map((tenantId, t) => ({ tenantId, name: null, tier: null, deleted: s.deleteFirstTenant && t === 0 })),
    ...Array.from({ length: s.tenantsWithoutVms }, (_, t) => ({ tenantId: `idle-${t}`, name: `idle ${t}`, tier: null, deleted: false })),
  ];
  const as: number[] = [];
  const bs: number[] = [];
  if (s.pairs && s.traffic === 'random')
    for (let a = 0; a < n; a++)
      for (let b = a + 1; b < n; b++)
        if (rnd.chance(0.15)) {
          as.push(a);
          bs.push(b);
        }
  return {
    watermark,
    windowMs: 15 * 60_000,
    vmIds: Array.from({ length: n }, (_, i) => `vm-id-${String(i).padStart(3, '0')}`),
    vmTenants,
    vmVpcs: vmTenants.map((t, i) => (t === null ? null : `${t}-vpc-${i % 2}`)),
    vmFeatures: { rows: n, cols, data, names: VM_FEATURES },
    vmBytes: bytes,
    vmExternalBytes: Float64Array.from(bytes, (b) => b * rnd.next()),
    vmSameTenantBytes: Float64Array.from(bytes, (b) => b * rnd.next()),
    tenants,
    vmPairs: { a: Int32Array.from(as), b: Int32Array.from(bs), bytes: Float64Array.from(as, () => rnd.logUniform(1, 1e6)) },
  };
}

function optionsOf(s: FleetShape): RunOptions {
  const vm: RunOptions['vm'] =
    s.vmAlgorithm === 'kmeans'
      ? { algorithm: 'kmeans', kMin: 2, kMax: 24, restarts: 2, seed: 1 }
      : s.vmAlgorithm === 'dbscan'
        ? { algorithm: 'dbscan', seed: 1, dbscan: { minPoints: 3 } }
        : // More points needed for a core than there are VMs: every VM is noise and the run has no VM cluster.
          { algorithm: 'dbscan', seed: 1, dbscan: { minPoints: 1000 } };
  const tenant: RunOptions['tenant'] =
    s.tenantAlgorithm === 'kmeans' ? { algorithm: 'kmeans', kMin: 2, kMax: 12, restarts: 2, seed: 1 } : { algorithm: 'dbscan', seed: 1, dbscan: { minPoints: 2 } };
  return { vm, tenant, vmFeatureWeights: {} };
}

/** The tenants a run must cluster: those of a live VM, unless deleted. */
function expectedTenants(input: RunInput): string[] {
  const deleted = new Set(input.tenants.filter((t) => t.deleted).map((t) => t.tenantId));
  return [...new Set(input.vmTenants.filter((t): t is string => t !== null && !deleted.has(t)))].sort();
}

/** Every number anywhere in a published document is finite: JSON would carry NaN and Infinity as null. */
function nonFinitePaths(value: unknown, path = '$', out: string[] = []): string[] {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) out.push(`${path} = ${value}`);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => {
      nonFinitePaths(v, `${path}[${i}]`, out);
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) nonFinitePaths(v, `${path}.${k}`, out);
  }
  return out;
}

/** Each entity once, in a cluster of the run (or noise); ids well formed; sizes add up; names for every cluster. */
function checkSide(side: Side, expectedIds: readonly string[], prefix: 'vm-' | 'tenant-', names: readonly string[] | undefined): void {
  expect([...side.ids].sort()).toEqual([...expectedIds].sort());
  expect(new Set(side.ids).size).toBe(side.ids.length);
  expect(side.clusterIds).toHaveLength(side.ids.length);
  expect(side.outcome.labels).toHaveLength(side.ids.length);
  const k = side.outcome.k;
  expect(side.labelIds).toHaveLength(k);
  expect(new Set(side.labelIds).size).toBe(k);
  for (const id of side.labelIds) expect(id).toMatch(new RegExp(`^${prefix}\\d+$`));
  const known = new Set([...side.labelIds, NOISE_CLUSTER_ID]);
  for (const c of side.clusterIds) expect(known.has(c)).toBe(true);
  side.outcome.labels.forEach((l, i) => {
    expect(side.clusterIds[i]).toBe(l < 0 ? NOISE_CLUSTER_ID : side.labelIds[l]);
  });
  expect(side.outcome.clusters).toHaveLength(k);
  const noise = side.clusterIds.filter((c) => c === NOISE_CLUSTER_ID).length;
  expect(side.outcome.clusters.reduce((sum, c) => sum + c.size, 0) + noise).toBe(side.ids.length);
  for (const c of side.outcome.clusters) expect(c.size).toBeGreaterThan(0);
  if (names !== undefined) {
    expect(names).toHaveLength(k);
    for (const name of names) expect(name.length).toBeGreaterThan(0);
  }
}

/**
 * The tenant features name VM clusters by the ids the run shows (vm-<n>_vm_share, vm-<n>_byte_share) and
 * hold shares: a tenant's add up to one, or to zero when none of its VMs is in a cluster (or carried bytes).
 */
function checkTenantMix(run: ClusteringRun): void {
  const { rows, cols, data, names } = run.tenants.features;
  const ids = run.vms.labelIds;
  const base = TENANT_BASE_FEATURES.length;
  expect(names).toEqual([...TENANT_BASE_FEATURES, ...ids.map((id) => `${id}_vm_share`), ...ids.map((id) => `${id}_byte_share`)]);
  for (let r = 0; r < rows; r++)
    for (const start of [base, base + ids.length]) {
      let sum = 0;
      for (let c = 0; c < ids.length; c++) {
        const share = data[r * cols + start + c]!;
        expect(share).toBeGreaterThanOrEqual(0);
        expect(share).toBeLessThanOrEqual(1);
        sum += share;
      }
      if (sum !== 0) expect(sum).toBeCloseTo(1, 12);
    }
  const known = new Set(names);
  for (const c of run.tenants.outcome.clusters) for (const d of c.distinguishing) expect(known.has(d.feature)).toBe(true);
}

function checkRun(run: ClusteringRun, input: RunInput): void {
  checkSide(run.vms, input.vmIds, 'vm-', run.vmClusterNames);
  checkSide(run.tenants, expectedTenants(input), 'tenant-', run.tenantClusterNames);
  checkTenantMix(run);
  const result = buildResult(run, { count: 0, by_reason: {} }, {});
  expect(Object.keys(result.vm_clusters).sort()).toEqual([...input.vmIds].sort());
  expect(Object.keys(result.tenant_clusters)).toEqual(expectedTenants(input));
  expect(Object.keys(result.affinity_groups).sort()).toEqual([...input.vmIds].sort());
  for (const g of Object.values(result.affinity_groups)) expect(g).toMatch(/^g-\d+$/);
  expect(result.anomalies.map((a) => a.vm_id).sort()).toEqual([...input.vmIds].sort());
  expect(nonFinitePaths(result)).toEqual([]);
  // What the API serves of the run: the same summaries, and a page for every cluster id it names.
  const index = runIndex(run);
  expect(nonFinitePaths(index.vms.summary)).toEqual([]);
  expect(nonFinitePaths(index.tenants.summary)).toEqual([]);
  for (const [id, members] of index.vms.members) expect(index.vms.clusters.get(id)?.size).toBe(members.length);
  for (const [id, members] of index.tenants.members) expect(index.tenants.clusters.get(id)?.size).toBe(members.length);
}

const RUNS = 120;

/** The hand-picked shapes start from this one. */
const base: FleetShape = {
  vms: 0,
  features: 'blobs',
  tenants: 0,
  vmsWithoutTenant: 0,
  tenantsWithoutVms: 0,
  deleteFirstTenant: false,
  traffic: 'random',
  pairs: true,
  vmAlgorithm: 'kmeans',
  tenantAlgorithm: 'kmeans',
  seed: 7,
};

describe('a clustering run over a generated fleet of any shape', () => {
  it(`completes with a consistent result, twice in a row, and a restart's model placement too, of the same fleet and of another (fast-check, seed 20261205, ${RUNS} fleets)`, () => {
    fc.assert(
      fc.property(shape, shape, (s, later) => {
        const options = optionsOf(s);
        let identity: IdentityState = initialIdentity;
        // Two runs: the second is matched against the first, as the service's runs are.
        for (const [n, watermark] of [[1, Date.UTC(2026, 10, 1, 0, 15)], [2, Date.UTC(2026, 10, 1, 0, 20)]] as const) {
          const input = runInputOf(s, watermark);
          const raw = runClustering(input, `run-00000${n}`, options);
          const identified = assignIdentities(raw, identity);
          identity = identified.state;
          checkRun(identified.run, runInputOf(s, watermark));
          expect(nonFinitePaths(runRecord(identified.run, identified.changes, 'schedule'))).toEqual([]);
        }
        // The model the last run leaves, read back as a restarted instance reads it, places the fleet again.
        const latest = assignIdentities(runClustering(runInputOf(s, 0), 'run-000003', options), identity).run;
        const parsed = parseModelDocument(JSON.stringify(buildModelDocument(latest, identity)));
        if (!parsed.ok) throw new Error(parsed.error);
        const provisional = provisionalRun(parsed.model, runInputOf(s, 0), 'provisional-run-000003');
        expect([...provisional.vms.ids].sort()).toEqual([...runInputOf(s, 0).vmIds].sort());
        // Its tenant features line up with the model's (named by the same VM cluster ids), so tenants are placed too.
        expect(provisional.tenants.ids).toEqual(expectedTenants(runInputOf(s, 0)));
        expect(provisional.tenants.features.names).toEqual(latest.tenants.features.names);
        const placed = buildResult(provisional, { count: 0, by_reason: {} }, {});
        expect(nonFinitePaths(placed)).toEqual([]);
        for (const c of Object.values(placed.vm_clusters)) expect(c === NOISE_CLUSTER_ID || latest.vms.labelIds.includes(c)).toBe(true);
        // A restart finds another fleet than the model's (any other shape): the placement still completes.
        const moved = provisionalRun(parsed.model, runInputOf(later, 0), 'provisional-run-000003');
        expect([...moved.vms.ids].sort()).toEqual([...runInputOf(later, 0).vmIds].sort());
        const movedResult = buildResult(moved, { count: 0, by_reason: {} }, {});
        expect(nonFinitePaths(movedResult)).toEqual([]);
        for (const c of Object.values(movedResult.vm_clusters)) expect(c === NOISE_CLUSTER_ID || latest.vms.labelIds.includes(c)).toBe(true);
        for (const c of Object.values(movedResult.tenant_clusters)) expect(c === NOISE_CLUSTER_ID || latest.tenants.labelIds.includes(c)).toBe(true);
      }),
      { seed: 20261205, numRuns: RUNS },
    );
  }, 60_000);

  it.each([
    ['no VM at all', { vms: 0, tenants: 0, tenantsWithoutVms: 2 }],
    ['one VM', { vms: 1, tenants: 1 }],
    ['one tenant', { vms: 12, tenants: 1 }],
    ['VMs without a tenant', { vms: 8, tenants: 3, vmsWithoutTenant: 8 }],
    ['every VM noise', { vms: 10, tenants: 3, vmAlgorithm: 'dbscan-all-noise' as const }],
    ['identical vectors', { vms: 20, tenants: 4, features: 'identical' as const }],
    ['zero traffic', { vms: 15, tenants: 3, traffic: 'zero' as const, features: 'zero' as const }],
  ])('completes for %s', (_, patch) => {
    const s: FleetShape = {
      ...base,
      ...patch,
    };
    const { run } = assignIdentities(runClustering(runInputOf(s, Date.UTC(2026, 10, 1)), 'run-000001', optionsOf(s)), initialIdentity);
    checkRun(run, runInputOf(s, Date.UTC(2026, 10, 1)));
    expect(run.tenants.features.names.slice(0, TENANT_BASE_FEATURES.length)).toEqual([...TENANT_BASE_FEATURES]);
  });
});
