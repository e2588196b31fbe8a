/**
 * Every record that is not applied is counted by reason and shown: rejected (vm_cap when a VM cannot be
 * tracked, kept with its source) or superseded by newer state (stale or expired attributes, flows of deleted VMs).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { formatReplaySummary } from '../../src/cli/summary.ts';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import type { RejectedRecord } from '../../src/contract/rejections.ts';
import { replayTrace } from '../../src/replay/replay.ts';

const T = Date.UTC(2026, 10, 1);
const flowLine = (ts: number, src: string, dst: string) =>
  JSON.stringify({ topic: 'overlay-flows', value: { ts, src_vm: src, dst_vm: dst, src_ip: '10.0.0.1', dst_ip: '10.0.0.2', src_port: 40000, dst_port: 443, protocol: 6, bytes: 1000, packets: 4 } });
const vmLine = (ts: number, vm: string, state = 'active') => JSON.stringify({ topic: 'vm-attributes', value: { ts, vm_id: vm, tenant_id: 't1', state } });
const tenantLine = (ts: number, name: string) => JSON.stringify({ topic: 'tenant-attributes', value: { ts, tenant_id: 't1', name } });

it('counts flows and attributes of VMs beyond max_vms as vm_cap rejections, and superseded records by kind', async () => {
  const lines = [
    vmLine(T, 'a'),
    vmLine(T, 'b'),
    flowLine(T + 1000, 'a', 'b'),
    // The cap is 2: c and d are not tracked, so this flow and c's attributes are lost, and said so.
    flowLine(T + 2000, 'c', 'd'),
    flowLine(T + 3000, 'c', 'd'),
    vmLine(T + 3000, 'c'),
    // b's traffic with the untracked c is still b's traffic: applied.
    flowLine(T + 4000, 'b', 'c'),
    // Older than the attributes held: superseded.
    vmLine(T - 1000, 'a'),
    tenantLine(T + 5000, 'new'),
    tenantLine(T + 1000, 'old'),
    vmLine(T + 6000, 'b', 'deleted'),
    flowLine(T + 7000, 'b', 'b'),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'not-applied-'));
  writeFileSync(join(dir, 'trace.jsonl'), `${lines.join('\n')}\n`);
  const options = PipelineOptions.parse({ maxVms: '2' });
  const rejected: RejectedRecord[] = [];
  const outcome = await replayTrace(join(dir, 'trace.jsonl'), { pipeline: toPipelineConfig(options), run: toRunOptions(options), onReject: (r) => rejected.push(r) });
  const { result } = outcome;
  expect(result.rejected).toEqual({ count: 3, by_reason: { vm_cap: 3 } });
  expect(rejected.map((r) => [r.reason, r.topic, r.source, r.field])).toEqual([
    ['vm_cap', 'overlay-flows', 'line 4', null],
    ['vm_cap', 'overlay-flows', 'line 5', null],
    ['vm_cap', 'vm-attributes', 'line 6', 'vm_id'],
  ]);
  expect(JSON.parse(rejected[2]!.raw)).toEqual({ ts: T + 3000, vm_id: 'c', tenant_id: 't1', state: 'active' });
  expect(result.stats).toMatchObject({
    flow_records: 5,
    flows_applied: 2,
    flows_for_deleted_vms: 1,
    vm_attribute_records: 5,
    vm_attributes_applied: 3,
    vm_attributes_stale: 1,
    vm_attributes_expired: 0,
    tenant_attribute_records: 2,
    tenant_attributes_applied: 1,
    tenant_attributes_stale: 1,
    vms_refused: 6,
  });
  const summary = formatReplaySummary(outcome).split('\n');
  expect(summary[1]).toBe('rejected 3: vm_cap 3');
  expect(summary[2]).toBe('not applied, superseded by newer state 3: flows_for_deleted_vms 1, vm_attributes_stale 1, tenant_attributes_stale 1');
  expect(summary[3]).toBe('limits reached: vms_refused 6 (docs/operations.md "Bounded resources")');
});

it('names the record of a batch that vm_cap turned away by its index', async () => {
  const batch = JSON.stringify({ topic: 'vm-attributes', value: [{ ts: T, vm_id: 'a', tenant_id: 't1' }, { ts: T, vm_id: 'b', tenant_id: 't1' }] });
  const dir = mkdtempSync(join(tmpdir(), 'not-applied-'));
  writeFileSync(join(dir, 'trace.jsonl'), `${flowLine(T, 'x', 'x')}\n${batch}\n`);
  const options = PipelineOptions.parse({ maxVms: '2' });
  const rejected: RejectedRecord[] = [];
  await replayTrace(join(dir, 'trace.jsonl'), { pipeline: toPipelineConfig(options), run: toRunOptions(options), onReject: (r) => rejected.push(r) });
  expect(rejected.map((r) => [r.reason, r.source, r.index, JSON.parse(r.raw).vm_id])).toEqual([['vm_cap', 'line 2', 1, 'b']]);
});

it('counts tenant attributes turned away at max_tenants as tenant_cap rejections', async () => {
  const tenant = (id: string) => JSON.stringify({ topic: 'tenant-attributes', value: { ts: T, tenant_id: id, name: id } });
  const dir = mkdtempSync(join(tmpdir(), 'not-applied-'));
  writeFileSync(join(dir, 'trace.jsonl'), `${flowLine(T, 'x', 'y')}\n${tenant('t1')}\n${tenant('t2')}\n${tenant('t1')}\n`);
  const options = PipelineOptions.parse({ maxTenants: '1' });
  const rejected: RejectedRecord[] = [];
  const { result } = await replayTrace(join(dir, 'trace.jsonl'), { pipeline: toPipelineConfig(options), run: toRunOptions(options), onReject: (r) => rejected.push(r) });
  expect(result.rejected).toEqual({ count: 1, by_reason: { tenant_cap: 1 } });
  expect(rejected.map((r) => [r.reason, r.source, r.field])).toEqual([['tenant_cap', 'line 3', 'tenant_id']]);
  expect(result.stats).toMatchObject({ tenant_attribute_records: 3, tenant_attributes_applied: 2 });
});
