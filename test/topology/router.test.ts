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
    router.route(config.topics.flows, addressed('10.9.9.9', '10.9.9.8'), '0@3', out);
    expect(out.filter((r) => r.to === 'by-vm').map((r) => (r.to === 'by-vm' ? r.key : ''))).toEqual(['vm-a', 'vm-b', 'vm-a', 'vm-b']);
    expect(rejected).toEqual(['missing_vm']);
    expect(router.recordsIn.flows).toBe(1);
    expect(router.rejections.summary().by_reason).toEqual({ missing_vm: 1 });
  });
});
