/**
 * Property tests of the decoder against hostile messages: prototype-pollution keys at any depth and in
 * any kind of record, nesting and size past the limits, and arbitrary JSON or text. Whatever arrives, the
 * decoder does not throw, answers once per record, rejects the hostile record alone, and leaves
 * Object.prototype untouched.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MessageDecoder, type RecordKind, type RecordSink } from '../../src/contract/message-decoder.ts';
import type { RejectReason } from '../../src/contract/rejections.ts';
import { MAX_DEPTH } from '../../src/contract/structure.ts';

const SEED = 20_261_125;

interface Outcome {
  accepted: number[];
  rejected: Array<{ reason: RejectReason; field: string | null; index: number | null }>;
}

function decode(kind: RecordKind, text: string, decoder = new MessageDecoder()): Outcome {
  const out: Outcome = { accepted: [], rejected: [] };
  let position = 0;
  const sink: RecordSink = {
    flow: () => out.accepted.push(position++),
    vmAttributes: () => out.accepted.push(position++),
    tenantAttributes: () => out.accepted.push(position++),
    hostAttributes: () => out.accepted.push(position++),
    reject: (r, index) => {
      out.rejected.push({ reason: r.reason, field: r.field, index });
      position++;
    },
  };
  decoder.decodeText(kind, text, sink);
  return out;
}

const VALID: Record<RecordKind, Record<string, unknown>> = {
  flow: { ts: 1_793_491_200_000, src_vm: 'vm-1', dst_vm: 'vm-2', src_ip: '10.0.0.1', dst_ip: '10.0.0.2', src_port: 40_000, dst_port: 443, protocol: 'tcp', bytes: 1200, packets: 3 },
  vm: { ts: 1_793_491_200_000, vm_id: 'vm-1', tenant_id: 't-1', labels: { env: 'prod' } },
  tenant: { ts: 1_793_491_200_000, tenant_id: 't-1', name: 'shop', labels: { team: 'a' } },
  host: { ts: 1_793_491_200_000, host_id: 'cmp-1', vcpus: 64, memory_mb: 262_144, labels: { rack: 'r1' } },
};

const FORBIDDEN = ['__proto__', 'constructor', 'prototype'] as const;
const PLACEHOLDER = '"\u0000forbidden\u0000"';

/**
 * A valid record with `{ <forbidden>: payload }` placed `depth` objects deep under `field`. Built as text,
 * since an object literal with a "__proto__" key would set a prototype rather than hold a key.
 */
function withForbiddenKey(kind: RecordKind, field: string, depth: number, key: string, payload: unknown): string {
  let nested: unknown = { marker: payload };
  for (let d = 1; d < depth; d++) nested = { level: nested };
  const record = { ...VALID[kind], [field]: nested };
  // The innermost object's "marker" key becomes the forbidden key.
  return JSON.stringify(record).replace('"marker"', PLACEHOLDER).replace(PLACEHOLDER, JSON.stringify(key));
}

const pollutedNow = (): boolean =>
  ({} as Record<string, unknown>).polluted !== undefined || Object.getOwnPropertyNames(Object.prototype).includes('polluted');

describe('hostile records', () => {
  it('rejects a pollution key at any depth of any record kind as forbidden_key, and only that record', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<RecordKind>('flow', 'vm', 'tenant'),
        fc.constantFrom('labels', 'extra', 'meta'),
        fc.integer({ min: 1, max: MAX_DEPTH - 1 }),
        fc.constantFrom(...FORBIDDEN),
        fc.jsonValue({ maxDepth: 1 }),
        fc.integer({ min: 0, max: 3 }),
        (kind, field, depth, key, payload, position) => {
          const good = JSON.stringify(VALID[kind]);
          const batch = Array.from({ length: 4 }, (_, i) => (i === position ? withForbiddenKey(kind, field, depth, key, { polluted: payload }) : good));
          const out = decode(kind, `[${batch.join(',')}]`);
          expect(out.rejected).toEqual([{ reason: 'forbidden_key', field: key, index: position }]);
          expect(out.accepted).toHaveLength(3);
          expect(pollutedNow()).toBe(false);
        },
      ),
      { seed: SEED, numRuns: 400 },
    );
  });

  it('rejects nesting past the limit as too_deep, whatever the field', () => {
    fc.assert(
      fc.property(fc.constantFrom<RecordKind>('flow', 'vm', 'tenant'), fc.integer({ min: MAX_DEPTH, max: 64 }), fc.boolean(), (kind, depth, arrays) => {
        let nested: unknown = 1;
        for (let d = 0; d < depth; d++) nested = arrays ? [nested] : { n: nested };
        const out = decode(kind, JSON.stringify({ ...VALID[kind], extra: nested }));
        expect(out.rejected).toEqual([{ reason: 'too_deep', field: null, index: null }]);
        expect(out.accepted).toEqual([]);
      }),
      { seed: SEED, numRuns: 100 },
    );
  });

  it('rejects oversize messages and batches whole, before parsing them', () => {
    const decoder = new MessageDecoder({ maxMessageBytes: 2048, maxBatchRecords: 5, maxDepth: MAX_DEPTH });
    fc.assert(
      fc.property(fc.constantFrom<RecordKind>('flow', 'vm', 'tenant'), fc.integer({ min: 6, max: 12 }), fc.integer({ min: 2049, max: 20_000 }), (kind, records, bytes) => {
        const batch = JSON.stringify(Array.from({ length: records }, () => ({ ts: 1 })));
        expect(decode(kind, batch, decoder).rejected).toEqual([{ reason: 'batch_too_large', field: null, index: null }]);
        // Not even JSON: the size check comes first.
        expect(decode(kind, `{${'x'.repeat(bytes)}`, decoder).rejected).toEqual([{ reason: 'too_large', field: null, index: null }]);
      }),
      { seed: SEED, numRuns: 50 },
    );
  });

  it('answers every record of arbitrary JSON (pollution keys included) exactly once, and never throws', () => {
    const hostileKey = fc.oneof(fc.constantFrom(...FORBIDDEN, 'ts', 'src_vm', 'vm_id', 'tenant_id', 'labels', 'protocol', 'toString', 'valueOf'), fc.string({ maxLength: 8 }));
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.constantFrom(null, true, false, 0, -1, 1e308, -1e308, 65_536, 2 ** 53 + 1, '', 'tcp', '10.0.0.1', '2026-11-01T00:00:00Z', '\ud800', '😀'),
        fc.double(),
        fc.string({ unit: 'binary', maxLength: 12 }),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(hostileKey, tie('node'), { maxKeys: 5 }),
      ),
    })).node;
    const message = fc.oneof(value, fc.array(value, { maxLength: 6 }));
    fc.assert(
      fc.property(fc.constantFrom<RecordKind>('flow', 'vm', 'tenant'), message, (kind, m) => {
        // fc.dictionary defines keys as own properties, so a "__proto__" key survives into the JSON text.
        const text = JSON.stringify(m);
        if (text === undefined) return;
        const out = decode(kind, text);
        const expected = Array.isArray(m) ? m.length : 1;
        expect(out.accepted.length + out.rejected.length).toBe(expected);
        expect(pollutedNow()).toBe(false);
      }),
      { seed: SEED, numRuns: 1500 },
    );
  });

  it('answers arbitrary text with one rejection or one record, and never throws', () => {
    fc.assert(
      fc.property(fc.constantFrom<RecordKind>('flow', 'vm', 'tenant'), fc.string({ unit: 'binary', maxLength: 200 }), (kind, text) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          expect(decode(kind, text).rejected).toEqual([{ reason: 'invalid_json', field: null, index: null }]);
          return;
        }
        const out = decode(kind, text);
        expect(out.accepted.length + out.rejected.length).toBe(Array.isArray(parsed) ? parsed.length : 1);
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });
});
