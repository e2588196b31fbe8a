import { describe, expect, it } from 'vitest';
import { runToEnd } from '../../src/core/slices.ts';
import { cutDocument, decodeDocumentInSlices, decodeDocumentSteps, encodeDocumentInSlices, encodeDocumentSteps } from '../../src/snapshots/sliced-document.ts';
import { encodeSnapshotFile, SnapshotFileError } from '../../src/snapshots/snapshot-file.ts';

const ids = Array.from({ length: 1234 }, (_, i) => `vm-${String(i).padStart(5, '0')}`);
/** A run record's shapes: long arrays of strings and of objects, a Map and a record keyed by VM, typed arrays. */
function document() {
  const explanations = ids.map((id, i) => ({ vmId: id, top: [{ feature: 'peers_out', z: i / 7 }], score: i % 3 === 0 ? null : i }));
  return {
    runId: 'run-000042',
    latest: { vms: { ids, clusterIds: ids.map((_, i) => `vm-${i % 5}`), features: new Float64Array(ids.length * 3).map((_, i) => i / 3) }, explanations },
    // The same array reached twice (the identity state keeps the run's ids): one array again after decoding.
    identity: { previousIds: ids },
    attributes: new Map(ids.slice(0, 300).map((id, i) => [id, { vcpus: i % 8, labels: i % 2 === 0 ? null : { tier: 'web' } }])),
    byVm: Object.fromEntries(ids.slice(0, 120).map((id, i) => [id, i])),
    // The traffic graph's shape: a typed array long enough to be cut too (128 elements count as one).
    graph: Int32Array.from({ length: 20_000 }, (_, i) => i * 7),
    small: [1, 2, 3],
    tenants: new Set(['t-1', 't-2']),
    nothing: null,
  };
}

/** The largest collection left in the skeleton, or held by one part: what one step deserialises. */
function largest(v: unknown): number {
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return 0;
  if (Array.isArray(v)) return Math.max(v.length, ...v.map(largest));
  if (v instanceof Map) return Math.max(v.size, ...[...v.values()].map(largest));
  if (v instanceof Set) return v.size;
  const values = Object.values(v);
  return Math.max(values.length, ...values.map(largest));
}

describe('a document in parts (the runs and features topics)', () => {
  it('cuts every collection longer than the bound into parts of at most that many elements, and the skeleton keeps none', () => {
    const { skeleton, parts } = cutDocument(document(), 50);
    expect(largest(skeleton.document)).toBeLessThanOrEqual(50);
    // Where each cut collection goes back: ids twice (shared), the other five once.
    expect(skeleton.cuts.length).toBe(7);
    for (const part of parts) expect(part.length).toBeLessThanOrEqual(50);
    // ids once (shared), clusterIds, explanations: 25 parts each; the Map 6 parts, the record 3, the graph 4
    // (6,400 elements each); the feature matrix (3,702 elements) stays whole.
    expect(parts.length).toBe(25 + 25 + 25 + 6 + 3 + 4);
  });

  it('puts fewer heavy elements to a part (a tenant\'s security groups): a part holds about the values of the bound\'s light ones', async () => {
    // 300 tenants of 20 groups of 10 rules each (over 400 values each), as a security-groups document holds them.
    const tenants = Array.from({ length: 300 }, (_, t) => ({
      tenantId: `t-${t}`,
      groups: Array.from({ length: 20 }, (_, g) => ({ id: `sg-${g}`, rules: Array.from({ length: 10 }, (_, r) => ({ port: r, from: `sg-${(g + r) % 20}` })) })),
    }));
    const doc = { tenants, light: ids };
    const { parts } = cutDocument(doc, 50);
    // 50 x 32 values a part: 1,600 over the 663 values of a tenant is 2 tenants a part; the ids stay by 50.
    expect(parts.slice(0, 150).every((part) => part.length === 2)).toBe(true);
    expect(parts.slice(150).map((part) => part.length)).toEqual([...Array<number>(24).fill(50), 34]);
    expect(await decodeDocumentInSlices(await encodeDocumentInSlices(doc, 50))).toEqual(doc);
  });

  it('decodes, step by step, to a document equal to the one encoded, shared arrays still shared', async () => {
    const doc = document();
    const bytes = await encodeDocumentInSlices(doc, 50);
    const back = (await decodeDocumentInSlices(bytes)) as ReturnType<typeof document>;
    expect(back).toEqual(doc);
    expect(back.identity.previousIds).toBe(back.latest.vms.ids);
    expect(back.attributes).toBeInstanceOf(Map);
    expect(back.latest.vms.features).toBeInstanceOf(Float64Array);
    expect(back.graph).toBeInstanceOf(Int32Array);
    // One step per part and per checksum, one per collection put back: never the whole document at once.
    const steps = decodeDocumentSteps(bytes);
    let yields = 0;
    while (steps.next().done !== true) yields++;
    expect(yields).toBe(2 * (1 + 88) + 7);
    // The bytes do not depend on how the steps were run.
    expect(runToEnd(encodeDocumentSteps(doc, 50)).equals(bytes)).toBe(true);
  });

  it('refuses a corrupted or cut record before deserialising anything, and still reads a one-block record of an earlier version', async () => {
    const bytes = await encodeDocumentInSlices(document(), 50);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 10]! ^= 0xff;
    await expect(decodeDocumentInSlices(flipped)).rejects.toThrow(new SnapshotFileError('checksum mismatch (corrupted record)'));
    await expect(decodeDocumentInSlices(bytes.subarray(0, bytes.length - 3))).rejects.toThrow(SnapshotFileError);
    await expect(decodeDocumentInSlices(Buffer.from('not a record at all'))).rejects.toThrow(SnapshotFileError);
    expect(await decodeDocumentInSlices(encodeSnapshotFile(document()))).toEqual(document());
  });
});
