import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import type { FlowRecord, VmAttributes } from '../../src/contract/records.ts';
import { Random } from '../../src/core/random.ts';
import { BY_VM_FORMAT, ByVmDecoder, type ByVmRecord, type ByVmRouted, decodeByVm, encodeByVm, kafkaPartitionOf, partitionOfMemo, vmKey, vmKeyMemo } from '../../src/topology/by-vm.ts';
import { packByVm, packRoute } from '../../src/topology/by-vm-pack.ts';
import type { Routed } from '../../src/topology/router.ts';

const flow = (over: Partial<FlowRecord> = {}): FlowRecord => ({
  ts: 1_793_491_200_123,
  startTs: null,
  srcVm: 'vm-a',
  dstVm: 'vm-b',
  srcIp: '10.0.0.1',
  dstIp: '10.0.0.2',
  srcPort: 40_000,
  dstPort: 443,
  protocol: 6,
  bytes: 1_500,
  packets: 3,
  vni: null,
  srcHost: 'cmp-1',
  dstHost: null,
  ...over,
});

const vm: VmAttributes = {
  ts: 1_793_491_200_000,
  vmId: 'vm-a',
  tenantId: 't-1',
  vpcId: 'vpc-1',
  state: 'active',
  labels: { env: 'prod' },
} as unknown as VmAttributes;

describe('the by-VM messages (the repartition hop)', () => {
  it('carry every kind of record exactly, numbers and strings of any value, in order', () => {
    const records: ByVmRecord[] = [
      { k: 'f', o: true, r: flow(), w: 1_793_491_200_123, sa: null },
      // Both halves of one flow, and values the varints cannot hold (fractions, big, negative, -0, NaN-free extremes).
      { k: 'f', o: false, r: flow({ startTs: 1_793_491_199_000.5, srcPort: -1, dstPort: -1, protocol: 1, bytes: 2 ** 53 - 1, packets: 0, vni: 16_777_215 }), w: -0, sa: -12.25 },
      { k: 'f', o: true, r: flow({ srcVm: null, dstVm: 'vm-é中', srcIp: '', dstIp: 'fe80::1', srcHost: 'cmp-1', dstHost: 'cmp-1' }), w: Number.MAX_VALUE, sa: -2 },
      { k: 'v', r: vm, w: null, sa: null },
      { k: 'm', w: 5, sa: 4 },
      { k: 't', tick: 1_793_491_500_000, w: 1_793_491_500_001, sa: 1_793_491_500_000 },
    ];
    const bytes = encodeByVm(records);
    expect(bytes[0]).toBe(BY_VM_FORMAT);
    const back = decodeByVm(bytes);
    expect(back).toEqual(records);
    expect(Object.is((back![1] as { w: number }).w, -0)).toBe(true);
    expect(decodeByVm(encodeByVm([{ k: 'q', req: 'req-1', w: null, sa: null }]))).toEqual([{ k: 'q', req: 'req-1', w: null, sa: null }]);
  });

  it('name a repeated string once: a half of a flow takes under a seventh of its JSON', () => {
    const halves: ByVmRecord[] = Array.from({ length: 100 }, (_, i) => ({ k: 'f', o: i % 2 === 0, r: flow({ ts: 1_793_491_200_000 + i }), w: 1_793_491_200_000 + i, sa: 1_793_491_200_000 }));
    const bytes = encodeByVm(halves).length;
    const json = halves.reduce((n, h) => n + JSON.stringify(h).length, 0);
    // Per half 36 bytes: the kind, three times of 6 bytes (w, sa, ts), the ports (3 + 2), bytes (2) and nine
    // one-byte fields (nulls, string references, protocol, packets); each string's text once (its length first).
    expect(bytes).toBe(2 + 100 * 36 + (5 + 5 + 9 + 9 + 6));
    expect(json / bytes).toBeGreaterThan(7.5);
  });

  it('decode what is not one of theirs as null, never throwing', () => {
    const good = encodeByVm([{ k: 'f', o: true, r: flow(), w: 1, sa: 1 }, { k: 't', tick: 10, w: 1, sa: 1 }]);
    expect(decodeByVm(Buffer.from('{"k":"m","w":null,"sa":null}'))).toBeNull();
    expect(decodeByVm(Buffer.alloc(0))).toBeNull();
    for (let cut = 1; cut < good.length; cut++) expect(decodeByVm(good.subarray(0, cut))).toBeNull();
    expect(decodeByVm(Buffer.concat([good, Buffer.from([0])]))).toBeNull();
    // A tick or a request must end its message: a partition's checkpoint never falls inside one.
    expect(decodeByVm(encodeByVm([{ k: 't', tick: 10, w: 1, sa: 1 }, { k: 'm', w: 1, sa: 1 }]))).toBeNull();
    expect(decodeByVm(encodeByVm([{ k: 'q', req: 'r', w: null, sa: null }, { k: 'm', w: 1, sa: 1 }]))).toBeNull();
    // An unknown kind, a string referring past the table, a count larger than the message.
    expect(decodeByVm(Buffer.from([BY_VM_FORMAT, 1, 9, 0, 0]))).toBeNull();
    expect(decodeByVm(Buffer.from([BY_VM_FORMAT, 1, 1, 0, 0, 3, 0, 7]))).toBeNull();
    expect(decodeByVm(Buffer.from([BY_VM_FORMAT, 0xff, 0xff, 0xff, 0x0f]))).toBeNull();
  });

  it('decode through a ByVmDecoder exactly as decodeByVm does, message after message, into the records it keeps', () => {
    const rng = new Random(12);
    const random = (): number => rng.next();
    const ids = Array.from({ length: 40 }, (_, i) => `vm-${i.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const decoder = new ByVmDecoder();
    let flowsDecoded = 0;
    for (let m = 0; m < 60; m++) {
      const records: ByVmRecord[] = Array.from({ length: 1 + Math.floor(random() * 30) }, (_, i): ByVmRecord => {
        const t = 1_793_491_200_000 + m * 1000 + i;
        if (random() < 0.05) return { k: 'v', r: { ...vm, vmId: pick(ids) }, w: t, sa: t - 7 };
        if (random() < 0.05) return { k: 'm', w: t, sa: null };
        return { k: 'f', o: random() < 0.5, w: t, sa: t - 3, r: flow({ ts: t, srcVm: random() < 0.1 ? null : pick(ids), dstVm: pick(ids), srcIp: `10.0.${Math.floor(random() * 4)}.1`, dstHost: random() < 0.5 ? null : pick(['cmp-1', 'cmp-é', '']), bytes: Math.floor(random() * 1e6) }) };
      });
      if (m % 7 === 6) records.push({ k: 't', tick: 1_793_491_200_000 + m, w: 1, sa: 1 });
      const bytes = encodeByVm(records);
      const reused = decoder.decode(bytes);
      expect(reused).toEqual(decodeByVm(bytes));
      expect(reused).toEqual(records);
      flowsDecoded += records.filter((r) => r.k === 'f').length;
      // Corrupted, the message is not ours for both, and the decoder goes on decoding good ones.
      const bad = Buffer.from(bytes);
      const at = Math.floor(random() * bad.length);
      bad[at] = bad[at]! ^ (1 + Math.floor(random() * 255));
      expect(decoder.decode(bad) === null).toBe(decodeByVm(bad) === null);
      expect(decoder.decode(bytes.subarray(0, bytes.length - 1))).toBeNull();
    }
    expect(flowsDecoded).toBeGreaterThan(700);
    // Its records are its own from one message to the next: a short message after long ones reuses the first.
    const first = decoder.decode(encodeByVm([{ k: 'f', o: true, r: flow({ srcVm: ids[3]! }), w: 1, sa: 1 }]))![0];
    const next = decoder.decode(encodeByVm([{ k: 'f', o: false, r: flow({ srcVm: ids[4]! }), w: 2, sa: 2 }]))![0];
    expect(next).toBe(first);
    expect(next).toEqual({ k: 'f', o: false, r: flow({ srcVm: ids[4]! }), w: 2, sa: 2 });
  });

  it('place a VM where Kafka\'s default partitioner places a message keyed by its id', () => {
    const partitioner = Partitioners.DefaultPartitioner();
    const keys = ['', 'a', 'ab', 'abc', 'abcd', 'abcde', 'vm-é中', 'a1b613dd-743c-45ef-b71a-b5b18d5d1d40'];
    for (let i = 0; i < 500; i++) keys.push(`vm-${(i * 2_654_435_761) % 1_000_003}-${'x'.repeat(i % 7)}`);
    for (const partitions of [1, 6, 12, 97]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
      for (const key of keys) expect(kafkaPartitionOf(key, partitions)).toBe(partitioner({ topic: 't', partitionMetadata, message: { key, value: null } }));
    }
  });

  it('place a VM through the memo exactly where kafkaPartitionOf does, asked once or again', () => {
    const keys = Array.from({ length: 300 }, (_, i) => `vm-${(i * 2_654_435_761) % 1_000_003}`);
    for (const partitions of [1, 6, 97]) {
      const memo = partitionOfMemo(partitions);
      // Twice over: the second pass is answered from the memo.
      for (const key of [...keys, ...keys]) expect(memo(key)).toBe(kafkaPartitionOf(key, partitions));
    }
  });

  it('remember each VM\'s key as vmKey computes it, across the memo starting afresh at its bound', () => {
    const ids = Array.from({ length: 300 }, (_, i) => `vm-${(i * 2_654_435_761) % 1_000_003}-é`);
    const memo = vmKeyMemo();
    const expected = ids.map(vmKey);
    expect(new Set(expected).size).toBe(ids.length);
    for (const round of [0, 1]) expect(ids.map(memo), `round ${round}`).toEqual(expected);
    // Past the bound (2^18 ids) the memo clears and computes again: still the same keys.
    for (let i = 0; i < 1 << 18; i++) memo(`filler-${i}`);
    expect(ids.map(memo)).toEqual(expected);
    expect(memo('filler-7')).toBe(vmKey('filler-7'));
  });

  it('pack a route batch byte for byte as encodeByVm writes each stretch\'s records, and its connections message likewise', () => {
    const rng = new Random(31);
    const pick = <T,>(xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)]!;
    // Long strings (a two-byte length), non-ASCII ones, empty ones, and numbers of every encoding.
    const ids = [...Array.from({ length: 30 }, (_, i) => `vm-${i.toString(16).padStart(8, '0')}`), 'vm-é中', `vm-${'x'.repeat(200)}`, ''];
    const numbers = [0, -0, -1, -2, 0.5, 1e-9, 2 ** 28, 2 ** 53 - 4, 2 ** 53 - 3, 2 ** 53, Number.MAX_VALUE, -12.25, 1_793_491_200_123];
    const partitionOf = (vmId: string): number => vmId.length % 5;
    const reference = (out: readonly Routed[]): Buffer[] => {
      const values: Buffer[] = [];
      let pending: ByVmRecord[][] = Array.from({ length: 5 }, () => []);
      for (const x of out) {
        if (x.to === 'by-vm') pending[partitionOf(x.key)]!.push(x.record);
        else if (x.to === 'by-vm-all') {
          for (const records of pending) values.push(encodeByVm([...records, x.record]));
          pending = Array.from({ length: 5 }, () => []);
        }
      }
      for (const records of pending) if (records.length > 0) values.push(encodeByVm(records));
      return values;
    };
    let flows = 0;
    let bytes = 0;
    for (let batch = 0; batch < 40; batch++) {
      const out: Routed[] = [];
      const connections: ByVmRecord[] = [];
      // From an empty batch to one whose first buffer (64 bytes a routed record) must grow several times.
      for (let i = 0; i < batch * 7; i++) {
        const t = 1_793_491_200_000 + batch * 1000 + i;
        const u = rng.next();
        if (u < 0.04) out.push({ to: 'by-vm-all', record: { k: 'm', w: t, sa: rng.next() < 0.5 ? null : t - 5 } });
        else if (u < 0.07) out.push({ to: 'by-vm', key: pick(ids), record: { k: 'v', r: { ...vm, vmId: pick(ids) }, w: t, sa: null } });
        else if (u < 0.09) out.push({ to: 'tenants', key: 't-1', value: '{}' });
        else {
          const r = flow({ ts: t, startTs: rng.next() < 0.5 ? null : pick(numbers), srcVm: rng.next() < 0.1 ? null : pick(ids), dstVm: rng.next() < 0.1 ? null : pick(ids), srcIp: pick(['10.0.0.1', 'fe80::1', '', 'é']), dstIp: pick(ids), srcPort: pick(numbers), bytes: pick(numbers), vni: rng.next() < 0.5 ? null : pick(numbers), srcHost: rng.next() < 0.3 ? null : pick(ids), dstHost: pick(['cmp-1', 'cmp-é', '']) });
          const w = rng.next() < 0.1 ? null : pick([t, ...numbers]);
          if (r.srcVm !== null) out.push({ to: 'by-vm', key: r.srcVm, record: { k: 'f', o: true, r, w, sa: t - 3 } });
          if (r.dstVm !== null) out.push({ to: 'by-vm', key: r.dstVm, record: { k: 'f', o: false, r, w, sa: t - 3 } });
          out.push({ to: 'connections', flow: r });
          connections.push({ k: 'f', o: true, r, w: null, sa: null });
          flows++;
        }
      }
      if (batch % 3 === 0) out.push({ to: 'by-vm-all', record: { k: 't', tick: 1_793_491_500_000 + batch, w: 1, sa: 1 } });
      const packed = packRoute(out, 5, partitionOf);
      const expected = reference(out);
      expect(packed.byVm.map((m) => m.value.toString('hex')), `batch ${batch}`).toEqual(expected.map((b) => b.toString('hex')));
      expect(packed.connections?.toString('hex') ?? null).toBe(connections.length === 0 ? null : encodeByVm(connections).toString('hex'));
      expect(packByVm(out, 5, partitionOf).map((m) => m.value.toString('hex'))).toEqual(expected.map((b) => b.toString('hex')));
      bytes += expected.reduce((n, b) => n + b.length, 0);
    }
    expect(flows).toBeGreaterThan(4_500);
    expect(bytes).toBeGreaterThan(400_000);
  });

  it('pack routed records into one message per partition between markers, each marker closing every partition\'s stretch', () => {
    const half = (vmId: string, ts: number): ByVmRouted => ({ to: 'by-vm', key: vmId, record: { k: 'f', o: true, r: flow({ srcVm: vmId, ts }), w: ts, sa: null } });
    const mark: ByVmRouted = { to: 'by-vm-all', record: { k: 't', tick: 300, w: 300, sa: null } };
    const partitionOf = (vmId: string) => (vmId === 'vm-a' ? 0 : vmId === 'vm-b' ? 1 : 2);
    const messages = packByVm([half('vm-a', 1), half('vm-b', 2), half('vm-a', 3), mark, half('vm-c', 4), { to: 'tenants' }], 3, partitionOf);
    const shown = messages.map((m) => ({ p: m.partition, n: m.records, r: decodeByVm(m.value)!.map((r) => (r.k === 'f' ? `${r.r.srcVm}@${r.r.ts}` : r.k)) }));
    expect(shown).toEqual([
      { p: 0, n: 3, r: ['vm-a@1', 'vm-a@3', 't'] },
      { p: 1, n: 2, r: ['vm-b@2', 't'] },
      { p: 2, n: 1, r: ['t'] },
      { p: 2, n: 1, r: ['vm-c@4'] },
    ]);
  });
});
