import { describe, expect, it } from 'vitest';
import { defaultDecodeLimits, InputDecoder, MessageDecoder, type RecordSink } from '../../src/contract/message-decoder.ts';
import type { FlowRecord, TenantAttributes, VmAttributes } from '../../src/contract/records.ts';
import type { Rejection } from '../../src/contract/rejections.ts';

interface Collected {
  flows: FlowRecord[];
  vms: VmAttributes[];
  tenants: TenantAttributes[];
  rejected: Array<{ reason: string; field: string | null; index: number | null }>;
}

function collect(): { sink: RecordSink; got: Collected } {
  const got: Collected = { flows: [], vms: [], tenants: [], rejected: [] };
  const sink: RecordSink = {
    flow: (f) => got.flows.push({ ...f }),
    vmAttributes: (a) => got.vms.push(a),
    tenantAttributes: (t) => got.tenants.push(t),
    reject: (r: Rejection, index) => got.rejected.push({ reason: r.reason, field: r.field, index }),
  };
  return { sink, got };
}

const flow = (i: number) => ({
  ts: 1_793_491_200_000 + i,
  src_vm: `vm-${i}`,
  dst_ip: '203.0.113.9',
  src_ip: '10.0.0.1',
  src_port: 40_000 + i,
  dst_port: 443,
  protocol: 'tcp',
  bytes: 100 * i,
  packets: i,
});

describe('MessageDecoder', () => {
  it('decodes a batch record by record: one bad record does not spoil the others', () => {
    const { sink, got } = collect();
    const batch = [flow(1), { ...flow(2), dst_port: 70_000 }, flow(3), 'not an object', null, { ...flow(4), protocol: 'smoke' }];
    new MessageDecoder().decodeText('flow', JSON.stringify(batch), sink);
    expect(got.flows.map((f) => f.srcVm)).toEqual(['vm-1', 'vm-3']);
    expect(got.rejected).toEqual([
      { reason: 'out_of_range', field: 'dst_port', index: 1 },
      { reason: 'invalid_value', field: null, index: 3 },
      { reason: 'invalid_value', field: null, index: 4 },
      { reason: 'unknown_protocol', field: 'protocol', index: 5 },
    ]);
  });

  it('rejects invalid JSON and oversize messages whole', () => {
    const { sink, got } = collect();
    const d = new MessageDecoder({ maxMessageBytes: 1000, maxBatchRecords: 3, maxDepth: 8 });
    d.decodeText('flow', '{"ts": 1,', sink);
    d.decodeText('flow', JSON.stringify([flow(1), flow(2), flow(3), flow(4)]), sink);
    d.decodeText('flow', `{"pad":"${'x'.repeat(2000)}"}`, sink);
    expect(got.rejected).toEqual([
      { reason: 'invalid_json', field: null, index: null },
      { reason: 'batch_too_large', field: null, index: null },
      { reason: 'too_large', field: null, index: null },
    ]);
    expect(got.flows).toHaveLength(0);
  });

  it('rejects prototype-pollution keys and deep nesting without touching Object.prototype', () => {
    const { sink, got } = collect();
    const text = `[${JSON.stringify(flow(1))}, {"__proto__": {"polluted": true}, "ts": 1}, ${JSON.stringify({ ...flow(2), extra: { constructor: { prototype: 1 } } })}, ${JSON.stringify({ ...flow(3), deep: [[[[[[[[[[1]]]]]]]]]] })}, ${JSON.stringify(flow(5))}]`;
    new MessageDecoder().decodeText('flow', text, sink);
    expect(got.flows.map((f) => f.srcVm)).toEqual(['vm-1', 'vm-5']);
    expect(got.rejected).toEqual([
      { reason: 'forbidden_key', field: '__proto__', index: 1 },
      { reason: 'forbidden_key', field: 'constructor', index: 2 },
      { reason: 'too_deep', field: null, index: 3 },
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('resolves attribute aliases, defaults the state and keeps labels in a null-prototype object', () => {
    const { sink, got } = collect();
    new MessageDecoder().decodeValue(
      'vm',
      [
        { ts: '2026-11-01T00:00:00Z', device_id: 'vm-1', project_id: 't-1', network_id: 'net-1', 'binding:host_id': 'node-3', vcpus: 4, memory_mb: 8192, cpu_util: 0.5, labels: { app: 'shop' } },
        { ts: 5, vm_id: 'vm-2', tenant_id: 't-2', state: 'deleted', vpc_id: null },
        { ts: 5, vm_id: 'vm-3' },
        { ts: 5, vm_id: 'vm-4', tenant_id: 't', cpu_util: 1.5 },
        { ts: 5, vm_id: 'vm-5', tenant_id: 't', state: 'exploded' },
      ],
      sink,
    );
    expect(got.vms).toHaveLength(2);
    expect(got.vms[0]).toMatchObject({ ts: 1_793_491_200_000, vmId: 'vm-1', tenantId: 't-1', vpcId: 'net-1', hostId: 'node-3', state: 'active', vcpus: 4 });
    expect(Object.getPrototypeOf(got.vms[0]!.labels)).toBeNull();
    expect(got.vms[1]).toMatchObject({ vmId: 'vm-2', state: 'deleted', vpcId: null });
    expect(got.rejected).toEqual([
      { reason: 'missing_field', field: 'tenant_id', index: 2 },
      { reason: 'out_of_range', field: 'cpu_util', index: 3 },
      { reason: 'unknown_value', field: 'state', index: 4 },
    ]);
  });

  it('decodes tenant attributes with the project_id alias', () => {
    const { sink, got } = collect();
    new MessageDecoder().decodeValue('tenant', { ts: 7, project_id: 'p-1', name: 'Shop', deleted: null }, sink);
    expect(got.tenants).toEqual([{ ts: 7, tenantId: 'p-1', name: 'Shop', tier: null, labels: null, deleted: false }]);
  });
});

describe('InputDecoder', () => {
  const topics = { flows: 'f', vmAttributes: 'v', tenantAttributes: 't' };
  it('decodes by the topic a message came from, and refuses a tombstone or an unknown topic whole', () => {
    const { sink, got } = collect();
    const d = new InputDecoder({ topics, limits: defaultDecodeLimits });
    expect(d.decodeMessage('f', JSON.stringify(flow(1)), sink)).toBe(true);
    expect(d.decodeMessage('t', '{"ts": 1793491200000, "tenant_id": "t-1"}', sink)).toBe(true);
    expect(d.decodeMessage('f', '{"ts":', sink)).toBe(true);
    expect(d.decodeMessage('f', null, sink)).toBe(false);
    expect(d.decodeMessage('hosts', '{}', sink)).toBe(false);
    d.decodeValue('nope', {}, '{"topic":"nope"}', sink);
    expect(got.flows.map((f) => f.srcVm)).toEqual(['vm-1']);
    expect(got.tenants.map((t) => t.tenantId)).toEqual(['t-1']);
    expect(got.rejected).toEqual([
      { reason: 'invalid_json', field: null, index: null },
      { reason: 'null_value', field: null, index: null },
      { reason: 'unknown_topic', field: 'topic', index: null },
      { reason: 'unknown_topic', field: 'topic', index: null },
    ]);
  });

  it('reads the host capacities topic only when it is named', () => {
    const { sink, got } = collect();
    const hosts: string[] = [];
    const withHosts = { ...sink, hostAttributes: (h: { hostId: string }) => void hosts.push(h.hostId) };
    const d = new InputDecoder({ topics, hostAttributesTopic: 'h', limits: defaultDecodeLimits });
    expect(d.decodeMessage('h', '{"ts": 1793491200000, "host_id": "node-1", "vcpus": 8, "memory_mb": 1024}', withHosts)).toBe(true);
    expect(hosts).toEqual(['node-1']);
    expect(got.rejected).toEqual([]);
  });
});
