import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeVmAttributesFast } from '../../src/contract/attributes-decoder.ts';
import { decodeVmAttributes } from './reference-decoders.ts';

const valid = {
  ts: '2026-11-01T00:00:00Z',
  vm_id: 'vm-1',
  tenant_id: 't-1',
  vpc_id: 'vpc-1',
  subnet_id: 'sn-1',
  ip: '10.0.0.1',
  image: 'ubuntu',
  host_id: 'node-1',
  vcpus: 4,
  memory_mb: 8192,
  state: 'active',
  cpu_util: 0.5,
  labels: { app: 'shop' },
  vni: 16_777_215,
};
const aliases = { device_id: 'vm-2', project_id: 't-2', network_id: 'net-2', 'binding:host_id': 'node-2', segmentation_id: 1001 };

describe('VM attributes fast decoder', () => {
  it('agrees with the zod schema on accept/reject, reason and output for arbitrary messages', () => {
    const value = fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.integer({ min: -3, max: 200 }),
      fc.constant(16_777_216),
      fc.double({ noNaN: true }),
      fc.constantFrom('', 'active', 'stopped', 'deleted', 'gone', '2026-11-01T00:00:00Z', 'x'.repeat(130), 'y'.repeat(300)),
      fc.string({ maxLength: 20 }),
      fc.boolean(),
      fc.constant([1]),
      fc.constant({ a: 'b' }),
      fc.constant({ a: 1 }),
    );
    const all = { ...valid, ...aliases } as Record<string, unknown>;
    const record = fc.record(
      Object.fromEntries(Object.keys(all).map((k) => [k, fc.oneof({ weight: 3, arbitrary: fc.constant(all[k]) }, value)])),
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(record, (raw) => {
        const a = decodeVmAttributesFast(raw);
        const b = decodeVmAttributes(raw);
        expect(a.ok).toBe(b.ok);
        if (a.ok && b.ok) {
          expect({ ...a.value, labels: a.value.labels && { ...a.value.labels } }).toEqual({ ...b.value, labels: b.value.labels && { ...b.value.labels } });
        }
        if (!a.ok && !b.ok) expect([a.rejection.reason, a.rejection.field]).toEqual([b.rejection.reason, b.rejection.field]);
      }),
      { numRuns: 4000, seed: 11 },
    );
  });
});
