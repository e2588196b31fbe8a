import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig } from '../../src/config/pipeline-options.ts';
import { type Routed, Router } from '../../src/topology/router.ts';

const config = toPipelineConfig(PipelineOptions.parse({}));
const T = Date.UTC(2026, 10, 1, 0, 0, 0);

const vm = (vmId: string, ip: string) => JSON.stringify({ ts: T, vm_id: vmId, tenant_id: 'tenant-1', vpc_id: 'vpc-1', ip });
const addressed = (src: string, dst: string) =>
  JSON.stringify({ ts: T + 1000, src_ip: src, dst_ip: dst, src_port: 40000, dst_port: 80, protocol: 'tcp', bytes: 100, packets: 1 });

describe('the router of a scale-out member', () => {
  it('keys a flow that carries only addresses by the VMs holding them, and rejects one it cannot attribute as missing_vm', () => {
    const rejected: string[] = [];
    const router = new Router(config, (r) => rejected.push(r.reason));
    const out: Routed[] = [];
    router.route(config.topics.vmAttributes, vm('vm-a', '10.0.0.1'), '0@0', out);
    router.route(config.topics.vmAttributes, vm('vm-b', '10.0.0.2'), '0@1', out);
    router.route(config.topics.flows, addressed('10.0.0.1', '10.0.0.2'), '0@2', out);
    // Public addresses: no VM attributes can claim them, so nothing is held.
    router.route(config.topics.flows, addressed('203.0.113.9', '198.51.100.1'), '0@3', out);
    expect(out.filter((r) => r.to === 'by-vm').map((r) => (r.to === 'by-vm' ? r.key : ''))).toEqual(['vm-a', 'vm-b', 'vm-a', 'vm-b']);
    expect(rejected).toEqual(['missing_vm']);
    expect(router.recordsIn.flows).toBe(1);
    expect(router.rejections.summary().by_reason).toEqual({ missing_vm: 1 });
  });

  it('holds an address-only flow with private ends no claim covers until attributes claim both, as one process does', () => {
    const rejected: string[] = [];
    const router = new Router(config, (r) => rejected.push(r.reason));
    const out: Routed[] = [];
    router.route(config.topics.vmAttributes, vm('vm-a', '10.0.0.1'), '0@0', out);
    router.route(config.topics.flows, addressed('10.0.0.7', '10.0.0.8'), '0@1', out);
    const flowKeys = () => out.flatMap((r) => (r.to === 'by-vm' && r.record.k === 'f' ? [r.key] : []));
    expect(flowKeys()).toEqual([]);
    expect(router.held.size).toBe(1);
    expect(router.exportHeld()?.held.flows.map((h) => h.source)).toEqual(['0@1']);
    // One end claimed: the other may still be, so the flow stays held.
    router.route(config.topics.vmAttributes, vm('vm-c', '10.0.0.7'), '0@2', out);
    expect(router.held.size).toBe(1);
    router.route(config.topics.vmAttributes, vm('vm-d', '10.0.0.8'), '0@3', out);
    expect(router.held.size).toBe(0);
    expect(flowKeys()).toEqual(['vm-c', 'vm-d']);
    expect(router.held.counters).toEqual({ held: 1, refused: 0, endsAttributedLate: 2, expired: 0 });
    expect(router.recordsIn.flows).toBe(1);
    expect(rejected).toEqual([]);
    expect(router.exportHeld()).toBeNull();
  });

  it('routes a held flow as it resolves once the watermark is about to leave it too late', () => {
    const rejected: string[] = [];
    const router = new Router(config, (r) => rejected.push(`${r.reason} ${r.field}`));
    const out: Routed[] = [];
    router.route(config.topics.vmAttributes, vm('vm-a', '10.0.0.1'), '0@0', out);
    router.route(config.topics.flows, addressed('10.0.0.1', '10.0.0.8'), '0@1', out);
    expect(router.held.size).toBe(1);
    const later = JSON.stringify({ ts: T + 1000 + config.window.allowedLatenessMs + 1, src_vm: 'vm-a', dst_vm: 'vm-z', src_ip: '10.0.0.1', dst_ip: '10.0.0.99', src_port: 1, dst_port: 80, protocol: 'tcp', bytes: 1, packets: 1 });
    router.route(config.topics.flows, later, '0@2', out);
    expect(rejected).toEqual([]);
    expect(router.held.size).toBe(0);
    expect(router.held.counters.expired).toBe(1);
    // The expired flow first (vm-a's half only: its other end stays unknown), then the later flow's halves.
    expect(out.flatMap((r) => (r.to === 'by-vm' && r.record.k === 'f' ? [`${r.key}@${r.record.r.ts - T}`] : []))).toEqual(['vm-a@1000', `vm-a@${1001 + config.window.allowedLatenessMs}`, `vm-z@${1001 + config.window.allowedLatenessMs}`]);
  });

  it('refuses a new tenant at MAX_TENANTS as tenant_cap and admits updates of a tracked one', () => {
    const capped = { ...config, window: { ...config.window, maxTenants: 1 } };
    const rejected: string[] = [];
    const router = new Router(capped, (r) => rejected.push(`${r.reason}@${r.source}`));
    const out: Routed[] = [];
    const tenant = (id: string, ts: number) => JSON.stringify({ ts, tenant_id: id, name: id });
    router.route(capped.topics.tenantAttributes, tenant('t-1', T), '0@0', out);
    router.route(capped.topics.tenantAttributes, tenant('t-2', T), '0@1', out);
    router.route(capped.topics.tenantAttributes, tenant('t-1', T + 1), '0@2', out);
    expect(out.map((r) => (r.to === 'tenants' ? r.key : r.to))).toEqual(['t-1', 't-1']);
    expect(rejected).toEqual(['tenant_cap@0@1']);
    // With the member's table, the tenants it has read count too.
    const member = new Router(capped, (r) => rejected.push(`${r.reason}@${r.source}`), null, new Map([['t-9', {}]]));
    member.route(capped.topics.tenantAttributes, tenant('t-1', T), '1@0', out);
    expect(rejected).toEqual(['tenant_cap@0@1', 'tenant_cap@1@0']);
  });
});
