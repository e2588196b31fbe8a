import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFlowInto } from '../../src/contract/flow-decoder.ts';
import { emptyFlowRecord } from '../../src/contract/records.ts';
import { decodeFlowWithSchema } from './reference-decoders.ts';

const valid = {
  ts: 1_793_491_200_000,
  start_ts: '2026-11-01T00:00:00Z',
  src_vm: 'vm-a',
  dst_vm: 'vm-b',
  src_ip: '10.0.0.1',
  dst_ip: '10.0.0.2',
  src_port: 51_000,
  dst_port: 5432,
  protocol: 'TCP',
  bytes: 1000,
  packets: 10,
  vni: 1001,
  src_host: 'node-1',
  dst_host: 'node-2',
};

function fast(raw: Record<string, unknown>) {
  const out = emptyFlowRecord();
  const r = decodeFlowInto(raw, out);
  return r ? { ok: false as const, reason: r.reason, field: r.field } : { ok: true as const, value: out };
}

describe('flow decoder', () => {
  it('normalises a valid record', () => {
    const d = fast(valid);
    expect(d).toEqual({
      ok: true,
      value: {
        ts: 1_793_491_200_000,
        startTs: 1_793_491_200_000,
        srcVm: 'vm-a',
        dstVm: 'vm-b',
        srcIp: '10.0.0.1',
        dstIp: '10.0.0.2',
        srcPort: 51_000,
        dstPort: 5432,
        protocol: 6,
        bytes: 1000,
        packets: 10,
        vni: 1001,
        srcHost: 'node-1',
        dstHost: 'node-2',
      },
    });
  });

  it('accepts both time forms, protocol numbers and absent or null optional fields', () => {
    const d = fast({ ...valid, ts: '2026-11-01T01:00:00.500+01:00', start_ts: null, dst_vm: null, vni: undefined, protocol: 17 });
    expect(d.ok && d.value).toMatchObject({ ts: 1_793_491_200_500, startTs: null, dstVm: null, vni: null, protocol: 17 });
    const icmp = fast({ ...valid, protocol: 'icmp', src_port: null, dst_port: undefined });
    expect(icmp.ok && icmp.value).toMatchObject({ protocol: 1, srcPort: -1, dstPort: -1 });
  });

  it.each([
    [{ ts: undefined }, 'missing_field', 'ts'],
    [{ ts: null }, 'missing_field', 'ts'],
    [{ ts: -1 }, 'out_of_range', 'ts'],
    [{ ts: 9e15 }, 'out_of_range', 'ts'],
    [{ ts: '2026-11-01 00:00:00' }, 'invalid_format', 'ts'],
    [{ ts: true }, 'invalid_type', 'ts'],
    [{ src_vm: '' }, 'out_of_range', 'src_vm'],
    [{ src_vm: 'x'.repeat(129) }, 'out_of_range', 'src_vm'],
    [{ src_vm: 42 }, 'invalid_type', 'src_vm'],
    [{ src_ip: '10.0.0.256' }, 'invalid_format', 'src_ip'],
    [{ dst_ip: undefined }, 'missing_field', 'dst_ip'],
    [{ src_port: 65_536 }, 'out_of_range', 'src_port'],
    [{ dst_port: -1 }, 'out_of_range', 'dst_port'],
    [{ dst_port: 80.5 }, 'invalid_type', 'dst_port'],
    [{ dst_port: '80' }, 'invalid_type', 'dst_port'],
    [{ protocol: 'quic' }, 'unknown_protocol', 'protocol'],
    // Names of built-in object properties are no protocol either (they once found a function).
    [{ protocol: 'constructor' }, 'unknown_protocol', 'protocol'],
    [{ protocol: '__proto__' }, 'unknown_protocol', 'protocol'],
    [{ protocol: 'toString' }, 'unknown_protocol', 'protocol'],
    [{ protocol: 256 }, 'out_of_range', 'protocol'],
    [{ protocol: null }, 'missing_field', 'protocol'],
    [{ bytes: -5 }, 'out_of_range', 'bytes'],
    [{ bytes: 2 ** 53 }, 'out_of_range', 'bytes'],
    [{ packets: '10' }, 'invalid_type', 'packets'],
    [{ vni: 16_777_216 }, 'out_of_range', 'vni'],
    [{ src_host: 'h'.repeat(257) }, 'out_of_range', 'src_host'],
    [{ src_port: undefined }, 'missing_port', 'src_port'],
    [{ protocol: 'sctp', dst_port: null }, 'missing_port', 'dst_port'],
  ])('rejects %j as %s', (patch, reason, field) => {
    const raw: Record<string, unknown> = { ...valid, ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete raw[k];
    expect(fast(raw)).toEqual({ ok: false, reason, field });
    const schema = decodeFlowWithSchema(raw);
    expect(schema.ok).toBe(false);
    if (!schema.ok) expect([schema.rejection.reason, schema.rejection.field]).toEqual([reason, field]);
  });

  it('accepts a flow that names neither VM: attribution by address decides, missing_vm is then the pipeline verdict', () => {
    const raw: Record<string, unknown> = { ...valid, src_vm: null };
    delete raw.dst_vm;
    const out = emptyFlowRecord();
    expect(decodeFlowInto(raw, out)).toBeNull();
    expect([out.srcVm, out.dstVm]).toEqual([null, null]);
    expect(decodeFlowWithSchema(raw).ok).toBe(true);
  });

  it('agrees with the zod schema on accept/reject, reason and output for arbitrary records', () => {
    const fieldValue = fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.integer({ min: -10, max: 70_000 }),
      fc.double({ noNaN: true }),
      fc.constantFrom('tcp', 'UDP', 'icmp', 'icmpv6', 'Sctp', 'quic', '', '10.0.0.1', '::1', 'fe80::1', '2026-11-01T00:00:00Z'),
      fc.string({ maxLength: 140 }),
      fc.boolean(),
      fc.constant([1]),
      fc.constant({ a: 1 }),
    );
    const keys = Object.keys(valid);
    const record = fc.record(Object.fromEntries(keys.map((k) => [k, fc.oneof({ weight: 3, arbitrary: fc.constant((valid as Record<string, unknown>)[k]) }, fieldValue)])), {
      requiredKeys: [],
    });
    fc.assert(
      fc.property(record, (raw) => {
        const a = fast(raw);
        const b = decodeFlowWithSchema(raw);
        expect(a.ok).toBe(b.ok);
        if (a.ok && b.ok) expect(a.value).toEqual(b.value);
        if (!a.ok && !b.ok) expect(a.reason).toBe(b.rejection.reason);
      }),
      { numRuns: 3000, seed: 42 },
    );
  });
});
