import { describe, expect, it } from 'vitest';
import { runToEnd } from '../../src/core/slices.ts';
import { PACK_LABELS_PER_STEP, packPlacementInput, packPlacementInputSteps, type PlacementRequestInput, unpackPlacementInput } from '../../src/service/worker-messages.ts';

describe("the placement stage's request across the thread boundary", () => {
  it('gives back the same input: sizes and labels of every kind, none included, as transferred typed arrays only but the host capacities', () => {
    const input: PlacementRequestInput = {
      windowMs: 900_000,
      vmIds: ['vm-a', 'vm-b', 'vm-c', 'vm-d'],
      vmTenants: ['t1', null, 't1', 't2'],
      vmPairs: { a: Int32Array.of(0, 1), b: Int32Array.of(2, 3), bytes: Float64Array.of(10, 0.5) },
      placement: {
        vmHosts: ['h1', null, 'h2', 'h1'],
        vmVcpus: [2, null, 0, 64],
        vmMemoryMb: [4096, null, 0.5, 262_144],
        vmLabels: [{ app: 'web', 'alcor.io/pinned': 'true' }, null, {}, { zone: 'été ✓ 𝄞', b: '', a: '"quoted"\\' }],
        hostCapacity: [['h1', { vcpus: 32, memoryMb: 131_072, labels: { rack: 'r1' } }]],
      },
    };
    const { value, transfer } = packPlacementInput(input);
    // Every per-VM column crosses as a typed array, none as an array of values or objects to clone.
    expect(Object.values(value.placement!).filter((c) => Array.isArray(c))).toEqual([input.placement!.hostCapacity]);
    expect(transfer).toHaveLength(10);
    const back = unpackPlacementInput(structuredClone(value, { transfer }));
    expect(back).toEqual(input);
    // Label keys keep their order (a label's JSON text is read in it).
    expect(Object.keys(back.placement!.vmLabels[3]!)).toEqual(['zone', 'b', 'a']);
    // In steps: a column each (ids, tenants, hosts), the labels by PACK_LABELS_PER_STEP VMs, their column.
    expect(PACK_LABELS_PER_STEP).toBe(2048);
    const many: PlacementRequestInput = {
      ...input,
      vmIds: Array.from({ length: 5000 }, (_, i) => `vm-${i}`),
      vmTenants: Array.from({ length: 5000 }, (_, i) => (i % 7 === 0 ? null : `t${i % 13}`)),
      placement: {
        ...input.placement!,
        vmHosts: Array.from({ length: 5000 }, (_, i) => `h${i % 40}`),
        vmVcpus: Array.from({ length: 5000 }, (_, i) => (i % 3 === 0 ? null : 2 ** (i % 6))),
        vmMemoryMb: Array.from({ length: 5000 }, (_, i) => 1024 * (i % 9)),
        vmLabels: Array.from({ length: 5000 }, (_, i) => (i % 2 === 0 ? null : { app: `a${i % 5}` })),
      },
    };
    const steps = packPlacementInputSteps(many);
    let count = 0;
    let r = steps.next();
    for (; r.done !== true; r = steps.next()) count++;
    expect(count).toBe(3 + 2 + 1);
    expect(r.value.value).toEqual(packPlacementInput(many).value);
    expect(unpackPlacementInput(runToEnd(packPlacementInputSteps(many)).value)).toEqual(many);
    const bare = { ...input, placement: undefined };
    expect(unpackPlacementInput(packPlacementInput(bare).value)).toEqual({ ...bare, placement: undefined });
  });
});
