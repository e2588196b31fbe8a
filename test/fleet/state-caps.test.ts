/**
 * Tenants, tenant labels and tombstones of deleted VMs are bounded like VMs: each cap, when hit, is counted
 * (and so reported in alcor_fleet_events_total), the hook is told on the 1st, 10th, 100th... hit, and the
 * rest of the state keeps working. The caps survive the fleet codec, and files written before these
 * counters existed still decode.
 */
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { TenantAttributes } from '../../src/contract/records.ts';
import { decodeFleetState, encodeFleetState } from '../../src/fleet/fleet-codec.ts';
import { FleetState } from '../../src/fleet/fleet-state.ts';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { loadServiceConfig } from '../../src/config/service-config.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { ClusterService } from '../../src/service/cluster-service.ts';
import { InlineClusterer } from '../../src/service/clusterer.ts';
import { defaultWindowConfig } from '../../src/windows/window-config.ts';
import { appFor } from '../http/helpers.ts';
import { flow, MIN, T0, vmAttrs } from '../helpers/records.ts';

const labels = (n: number, tag = 'v'): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, `${tag}${i}`]));
const tenant = (tenantId: string, ts: number, labelCount: number | null): TenantAttributes => ({
  ts,
  tenantId,
  name: tenantId.toUpperCase(),
  tier: null,
  labels: labelCount === null ? null : labels(labelCount),
  deleted: false,
});

describe('fleet caps for tenants, tenant labels and tombstones', () => {
  it('refuses new tenants beyond maxTenants with a count; held tenants keep updating', () => {
    const fleet = new FleetState({ ...defaultWindowConfig, maxTenants: 2 });
    const hits: string[] = [];
    fleet.onCapHit = (cap, n) => hits.push(`${cap}:${n}`);
    fleet.applyTenantAttributes(tenant('t1', T0, null));
    fleet.applyTenantAttributes(tenant('t2', T0, null));
    for (let i = 0; i < 10; i++) fleet.applyTenantAttributes(tenant(`x${i}`, T0, null));
    fleet.applyTenantAttributes({ ...tenant('t1', T0 + MIN, null), name: 'renamed' });
    expect([...fleet.tenants.keys()]).toEqual(['t1', 't2']);
    expect(fleet.tenants.get('t1')?.name).toBe('renamed');
    expect(fleet.counters.tenantsRefused).toBe(10);
    expect(fleet.counters.tenantAttributesApplied).toBe(3);
    expect(hits).toEqual(['max_tenants:1', 'max_tenants:10']);
  });

  it('applies a tenant message without its labels when they would pass maxTenantLabels, counting the labels a tenant gives back', () => {
    const fleet = new FleetState({ ...defaultWindowConfig, maxTenantLabels: 5 });
    fleet.applyTenantAttributes(tenant('t1', T0, 3));
    fleet.applyTenantAttributes(tenant('t2', T0, 3));
    expect(fleet.tenants.get('t2')).toEqual({ ...tenant('t2', T0, 3), labels: null });
    expect(fleet.counters.tenantLabelsRefused).toBe(1);
    // t1 shrinks to 1 label: t2's 3 now fit (1 + 3 <= 5), and t1 may not grow back past the cap.
    fleet.applyTenantAttributes(tenant('t1', T0 + MIN, 1));
    fleet.applyTenantAttributes(tenant('t2', T0 + MIN, 3));
    fleet.applyTenantAttributes(tenant('t1', T0 + 2 * MIN, 3));
    expect(Object.keys(fleet.tenants.get('t2')?.labels ?? {})).toEqual(['k0', 'k1', 'k2']);
    expect(fleet.tenants.get('t1')?.labels).toBe(null);
    expect(fleet.counters.tenantLabelsRefused).toBe(2);
    expect(fleet.counters.tenantAttributesApplied).toBe(5);
  });

  it('forgets the oldest tombstone beyond maxDeletedVms, with a count; the newer ones still guard their VM', () => {
    const fleet = new FleetState({ ...defaultWindowConfig, maxDeletedVms: 2 });
    for (const vmId of ['a', 'b', 'c']) fleet.applyFlow(flow({ ts: T0, srcVm: vmId }));
    for (const [i, vmId] of ['a', 'b', 'c'].entries()) fleet.applyVmAttributes(vmAttrs({ ts: T0 + (i + 1) * 1000, vmId, tenantId: 't1', state: 'deleted' }));
    expect([...fleet.deleted.keys()]).toEqual(['b', 'c']);
    expect(fleet.counters.deletedEvicted).toBe(1);
    expect(fleet.counters.vmsDeleted).toBe(3);
    // b's tombstone still refuses an older message; a's is gone, so its older message brings it back.
    fleet.applyVmAttributes(vmAttrs({ ts: T0, vmId: 'b', tenantId: 't1' }));
    fleet.applyVmAttributes(vmAttrs({ ts: T0 + 500, vmId: 'a', tenantId: 't1' }));
    expect([...fleet.vms.keys()]).toEqual(['a']);
    expect(fleet.counters.vmAttributesStale).toBe(1);
  });

  it('holds 20,000 tenants of 64 labels and 20,000 tombstones within the default caps', () => {
    const fleet = new FleetState(defaultWindowConfig);
    for (let i = 0; i < 20_000; i++) fleet.applyTenantAttributes(tenant(`tenant-${i}`, T0, 64));
    for (let i = 0; i < 20_000; i++) fleet.applyVmAttributes(vmAttrs({ ts: T0, vmId: `vm-${i}`, tenantId: 't', state: 'deleted' }));
    let held = 0;
    for (const t of fleet.tenants.values()) held += Object.keys(t.labels ?? {}).length;
    // 200,000 labels: 3,125 tenants keep their 64, the rest are held without labels.
    expect(held).toBe(200_000);
    expect(fleet.counters.tenantLabelsRefused).toBe(20_000 - 3_125);
    expect(fleet.tenants.size).toBe(20_000);
    expect(fleet.deleted.size).toBe(20_000);
  });

  it('keeps the new counters through the codec, and decodes a file written before they existed', () => {
    const config = { ...defaultWindowConfig, maxTenants: 1, maxDeletedVms: 1 };
    const fleet = new FleetState(config);
    fleet.applyTenantAttributes(tenant('t1', T0, 2));
    fleet.applyTenantAttributes(tenant('t2', T0, 2));
    fleet.applyVmAttributes(vmAttrs({ ts: T0, vmId: 'a', tenantId: 't1', state: 'deleted' }));
    fleet.applyVmAttributes(vmAttrs({ ts: T0, vmId: 'b', tenantId: 't1', state: 'deleted' }));
    const bytes = encodeFleetState(fleet);
    const back = decodeFleetState(bytes, config);
    expect(back.counters).toEqual(fleet.counters);
    expect(back.counters).toMatchObject({ tenantsRefused: 1, deletedEvicted: 1 });
    // The restored label count still bounds: t1's 2 labels are held, 1 more passes a cap of 2.
    const bounded = decodeFleetState(bytes, { ...config, maxTenants: 5, maxTenantLabels: 2 });
    bounded.applyTenantAttributes(tenant('t3', T0, 1));
    expect(bounded.tenants.get('t3')?.labels).toBe(null);

    // The same state as the first release of the format wrote it: 14 counters, then the rest.
    const COUNTS_AT = 60;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(view.getUint16(COUNTS_AT, true)).toBe(17);
    const first = COUNTS_AT + 2 + 14 * 8;
    const body = Buffer.concat([bytes.subarray(0, first), bytes.subarray(first + 3 * 8, bytes.length - 4)]);
    body.writeUInt16LE(14, COUNTS_AT);
    const crc = Buffer.alloc(4);
    crc.writeUInt32LE(crc32(body));
    const old = decodeFleetState(Buffer.concat([body, crc]), config);
    expect(old.counters).toEqual({ ...fleet.counters, tenantsRefused: 0, tenantLabelsRefused: 0, deletedEvicted: 0 });
    expect([...old.tenants.keys()]).toEqual(['t1']);
    expect([...old.deleted.keys()]).toEqual(['b']);
  });

  it('are configured by MAX_TENANTS, MAX_TENANT_LABELS and MAX_DELETED_VMS, left out of the window settings unless set', () => {
    expect(toPipelineConfig(loadServiceConfig({}).pipeline).window).toEqual(toPipelineConfig(PipelineOptions.parse({})).window);
    expect(toPipelineConfig(loadServiceConfig({}).pipeline).window).not.toHaveProperty('maxTenants');
    const set = toPipelineConfig(loadServiceConfig({ MAX_TENANTS: '10', MAX_TENANT_LABELS: '0', MAX_DELETED_VMS: '7' }).pipeline).window;
    expect(set).toMatchObject({ maxTenants: 10, maxTenantLabels: 0, maxDeletedVms: 7 });
    expect(() => loadServiceConfig({ MAX_TENANTS: '0' })).toThrow(/MAX_TENANTS: /);
  });

  it('counts cap hits in alcor_fleet_events_total', async () => {
    const opts = PipelineOptions.parse({ reclusterMinutes: 0, maxTenants: 1 });
    const service = new ClusterService(new Pipeline(toPipelineConfig(opts)), new InlineClusterer(), toRunOptions(opts), Date.now);
    const topic = toPipelineConfig(opts).topics.tenantAttributes;
    for (const id of ['t1', 't2', 't3']) service.ingestMessage(topic, JSON.stringify({ ts: '2026-11-01T00:00:00Z', tenant_id: id }), 'x');
    const { app } = appFor(service);
    try {
      const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(body).toContain('alcor_fleet_events_total{event="tenants_refused"} 2');
    } finally {
      await app.close();
    }
  });
});
