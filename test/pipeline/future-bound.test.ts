import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import type { RejectedRecord } from '../../src/contract/rejections.ts';
import { fleetCodec } from '../../src/fleet/fleet-codec.ts';
import { FutureBound } from '../../src/pipeline/future-bound.ts';
import { Pipeline, type PipelineConfig } from '../../src/pipeline/pipeline.ts';
import { InlineClusterer } from '../../src/service/clusterer.ts';
import { ClusterService } from '../../src/service/cluster-service.ts';
import { captureSnapshot, encodeSnapshot, loadLatestSnapshot } from '../../src/snapshots/service-snapshot.ts';
import { SnapshotStore } from '../../src/snapshots/snapshot-store.ts';
import { flow, MIN, T0, vmAttrs } from '../helpers/records.ts';

const HOUR = 60 * MIN;
const FAR = Date.UTC(9999, 11, 31, 23, 59, 59);
const opts = PipelineOptions.parse({});
const HOSTS = ['cmp-1', 'cmp-2', 'cmp-3', 'cmp-4', 'cmp-5'];

/** A pipeline as the live service builds it (wall clock fixed at `now`), or as a replay does (`now` null). */
function pipelineAt(now: number | null): { p: Pipeline; rejects: RejectedRecord[] } {
  const base = toPipelineConfig(opts);
  const config: PipelineConfig = { ...base, future: { maxSkewMs: 5 * MIN, quorum: 3, wallClock: now === null ? null : () => now } };
  const rejects: RejectedRecord[] = [];
  return { p: new Pipeline(config, (r) => rejects.push(r)), rejects };
}

function flowJson(ts: number, host: string, vm = `vm-${host}`): string {
  return JSON.stringify({ ts, src_vm: vm, src_host: host, src_ip: '10.0.0.1', dst_ip: '10.0.0.2', protocol: 'tcp', src_port: 50_000, dst_port: 443, bytes: 1000, packets: 10 });
}

/** One minute of traffic from every host, in order. */
function minuteOf(p: Pipeline, ts: number, hosts: readonly string[] = HOSTS): void {
  for (const h of hosts) p.ingestMessage('overlay-flows', flowJson(ts, h), `${h}@${ts}`);
}

const vmJson = (ts: number, vm: string, state = 'active', tenant = 'tenant-a') => JSON.stringify({ ts, vm_id: vm, tenant_id: tenant, state });
const tenantJson = (ts: number, name: string) => JSON.stringify({ ts, tenant_id: 'tenant-a', name, deleted: false });

describe('live (wall clock known): event times are bounded by wall clock + the skew', () => {
  it('rejects the flows of a host whose clock runs two hours ahead and leaves the rest of the fleet untouched', () => {
    const now = T0 + 10 * MIN;
    const live = pipelineAt(now);
    const reference = pipelineAt(now);
    for (let m = 0; m <= 10; m++) {
      minuteOf(live.p, T0 + m * MIN, HOSTS.slice(0, 4));
      live.p.ingestMessage('overlay-flows', flowJson(T0 + m * MIN + 2 * HOUR, 'cmp-5'), `cmp-5@${m}`);
      minuteOf(reference.p, T0 + m * MIN, HOSTS.slice(0, 4));
    }
    expect(live.p.fleet.watermark).toBe(T0 + 10 * MIN);
    expect(live.p.rejections.summary()).toEqual({ count: 11, by_reason: { future_ts: 11 } });
    expect(live.rejects[0]).toMatchObject({ reason: 'future_ts', field: 'ts', topic: 'overlay-flows', source: 'cmp-5@0', message: 'ts 2026-11-01T02:00:00.000Z is 6600 s ahead of the wall clock; the allowed future skew is 300 s' });
    expect(JSON.parse(live.rejects[0]!.raw)).toMatchObject({ src_host: 'cmp-5', ts: T0 + 2 * HOUR });
    // Every other VM is exactly as if the skewed host had sent nothing.
    expect(live.p.runInput()).toEqual(reference.p.runInput());
    expect(live.p.fleet.vms.has('vm-cmp-5')).toBe(false);
  });

  it('takes flows resuming at wall-clock time after a quiet hour at once, from a single host', () => {
    const { p } = pipelineAt(T0 + HOUR);
    minuteOf(p, T0);
    minuteOf(p, T0 + HOUR, ['cmp-1']);
    expect(p.rejections.count).toBe(0);
    expect(p.fleet.watermark).toBe(T0 + HOUR);
  });

  it('while catching up on a backlog far behind the wall clock, a host two hours ahead of the others is rejected by the quorum', () => {
    const { p, rejects } = pipelineAt(T0 + 7 * 24 * HOUR);
    for (let m = 0; m <= 3; m++) {
      minuteOf(p, T0 + m * MIN, HOSTS.slice(0, 4));
      p.ingestMessage('overlay-flows', flowJson(T0 + m * MIN + 2 * HOUR, 'cmp-5'), `cmp-5@${m}`);
    }
    expect(p.fleet.watermark).toBe(T0 + 3 * MIN);
    expect(p.rejections.summary()).toEqual({ count: 4, by_reason: { future_ts: 4 } });
    expect(rejects[0]!.message).toBe('ts 2026-11-01T02:00:00.000Z is 7200 s ahead of 2026-11-01T00:00:00.000Z, the time 3 of 5 recent sources have reached; the allowed future skew is 300 s');
  });

  it('accepts a record up to the skew ahead of the wall clock, and not one millisecond more', () => {
    const { p } = pipelineAt(T0);
    p.ingestMessage('overlay-flows', flowJson(T0 + 5 * MIN + 1, 'cmp-1'), 'a');
    p.ingestMessage('overlay-flows', flowJson(T0 + 5 * MIN, 'cmp-1'), 'b');
    expect(p.rejections.summary()).toEqual({ count: 1, by_reason: { future_ts: 1 } });
    expect(p.fleet.watermark).toBe(T0 + 5 * MIN);
  });

  it('rejects a far-future deleted message (the VM is not banned) and a far-future tenant message (the tenant is not pinned)', () => {
    const { p, rejects } = pipelineAt(T0 + 3 * MIN);
    p.ingestMessage('vm-attributes', vmJson(T0, 'vm-cmp-1'), 'v1');
    p.ingestMessage('tenant-attributes', tenantJson(T0, 'before'), 't1');
    p.ingestMessage('vm-attributes', `[${vmJson(T0 + MIN, 'vm-cmp-2')},${vmJson(FAR, 'vm-cmp-1', 'deleted')}]`, 'v2');
    p.ingestMessage('tenant-attributes', tenantJson(FAR, 'pinned'), 't2');
    minuteOf(p, T0 + MIN, ['cmp-1']);
    p.ingestMessage('tenant-attributes', tenantJson(T0 + 2 * MIN, 'after'), 't3');

    expect(p.rejections.summary()).toEqual({ count: 2, by_reason: { future_ts: 2 } });
    expect(rejects.map((r) => [r.topic, r.source, r.index, r.reason])).toEqual([
      ['vm-attributes', 'v2', 1, 'future_ts'],
      ['tenant-attributes', 't2', null, 'future_ts'],
    ]);
    expect(rejects[0]!.message).toMatch(/^ts 9999-12-31T23:59:59\.000Z is \d+ s ahead of the wall clock; the allowed future skew is 300 s$/);
    expect(p.fleet.deleted.size).toBe(0);
    expect(p.fleet.counters.flowsApplied).toBe(1);
    expect(p.fleet.vms.get('vm-cmp-1')?.attributes?.state).toBe('active');
    expect(p.fleet.tenants.get('tenant-a')).toMatchObject({ name: 'after', ts: T0 + 2 * MIN });
  });
});

describe('replay (no wall clock): the input\'s own robust now', () => {
  it('rejects far-future deleted and tenant messages against the watermark', () => {
    const { p } = pipelineAt(null);
    minuteOf(p, T0);
    p.ingestMessage('vm-attributes', vmJson(T0, 'vm-cmp-1'), 'v1');
    p.ingestMessage('vm-attributes', vmJson(FAR, 'vm-cmp-1', 'deleted'), 'v2');
    p.ingestMessage('tenant-attributes', tenantJson(FAR, 'pinned'), 't1');
    p.ingestMessage('tenant-attributes', tenantJson(T0 + 5 * MIN, 'in time'), 't2');
    minuteOf(p, T0 + MIN);
    expect(p.rejections.summary()).toEqual({ count: 2, by_reason: { future_ts: 2 } });
    expect(p.fleet.deleted.size).toBe(0);
    expect(p.fleet.vms.get('vm-cmp-1')?.attributes?.state).toBe('active');
    expect(p.fleet.tenants.get('tenant-a')?.name).toBe('in time');
    expect(p.fleet.counters.flowsApplied).toBe(10);
  });

  it('attributes ahead of the first flow are judged by it once it comes: far-future ones are taken back out as future_ts', () => {
    const { p, rejects } = pipelineAt(null);
    p.ingestMessage('vm-attributes', `[${vmJson(T0, 'vm-cmp-1')},${vmJson(T0, 'vm-cmp-2')},${vmJson(FAR, 'vm-cmp-2', 'deleted')},${vmJson(FAR, 'vm-cmp-3', 'active', 'tenant-b')}]`, 'v1');
    p.ingestMessage('tenant-attributes', tenantJson(FAR, 'pinned'), 't1');
    expect(p.fleet.deleted.has('vm-cmp-2')).toBe(true);
    minuteOf(p, T0 + MIN);
    expect(rejects.map((r) => [r.topic, r.source, r.reason])).toEqual([
      ['vm-attributes', 'before the first flow', 'future_ts'],
      ['vm-attributes', 'before the first flow', 'future_ts'],
      ['tenant-attributes', 'before the first flow', 'future_ts'],
    ]);
    expect(rejects[0]!.message).toBe(`ts is ${Math.round((FAR - T0 - MIN) / 1000)} s ahead of the first flow (2026-11-01T00:01:00.000Z); the allowed future skew is 300 s`);
    expect(JSON.parse(rejects[0]!.raw)).toEqual({ vmId: 'vm-cmp-2', ts: FAR, state: 'deleted' });
    expect(p.fleet.deleted.size).toBe(0);
    expect(p.fleet.tenants.size).toBe(0);
    expect(p.fleet.vms.get('vm-cmp-1')?.attributes?.ts).toBe(T0);
    expect(p.fleet.vms.get('vm-cmp-3')?.attributes).toBeNull();
    // The VM that was "deleted" in 9999 sends flows like the others.
    expect(p.fleet.counters.flowsApplied).toBe(5);
    expect(p.fleet.vms.has('vm-cmp-2')).toBe(true);
    p.ingestMessage('tenant-attributes', tenantJson(T0 + MIN, 'in time'), 't2');
    expect(p.fleet.tenants.get('tenant-a')?.name).toBe('in time');
  });

  it('one poisoned flow cannot move the window; ordinary progress moves it exactly as before', () => {
    const { p, rejects } = pipelineAt(null);
    minuteOf(p, T0);
    p.ingestMessage('overlay-flows', flowJson(FAR, 'cmp-2'), 'poison');
    minuteOf(p, T0 + MIN);
    expect(p.fleet.watermark).toBe(T0 + MIN);
    expect(rejects.map((r) => r.reason)).toEqual(['future_ts']);
    expect(rejects[0]!.message).toBe(
      `ts 9999-12-31T23:59:59.000Z is ${Math.round((FAR - T0) / 1000)} s ahead of 2026-11-01T00:00:00.000Z, the time 3 of 5 recent sources have reached; the allowed future skew is 300 s`,
    );
  });

  it('a genuine leap of time is taken once a quorum of sources has reached it', () => {
    const { p } = pipelineAt(null);
    minuteOf(p, T0);
    const later = T0 + HOUR;
    // Five sources: three must agree. The first two to leap are rejected, the third moves the window.
    minuteOf(p, later, ['cmp-1', 'cmp-2']);
    expect(p.fleet.watermark).toBe(T0);
    minuteOf(p, later, ['cmp-3']);
    expect(p.fleet.watermark).toBe(later);
    minuteOf(p, later);
    expect(p.rejections.summary()).toEqual({ count: 2, by_reason: { future_ts: 2 } });
    expect(p.fleet.counters.flowsApplied).toBe(5 + 1 + 5);
  });

  it('needs a majority: with two sources or one, each moves time alone (there is no one to outvote it)', () => {
    const bound = new FutureBound({ maxSkewMs: 0, quorum: 3, wallClock: null }, 15 * MIN);
    expect(bound.checkFlow(flow({ ts: T0, srcVm: 'a', srcHost: 'h1' }), Number.NEGATIVE_INFINITY)).toBeNull();
    expect(bound.checkFlow(flow({ ts: T0 + HOUR, srcVm: 'a', srcHost: 'h1' }), T0)).toBeNull();
    expect(bound.checkFlow(flow({ ts: T0 + HOUR, srcVm: 'b', srcHost: 'h2' }), T0 + HOUR)).toBeNull();
    // A third source makes a majority of two: one source alone can no longer lead.
    expect(bound.checkFlow(flow({ ts: T0 + HOUR, srcVm: 'c', srcHost: 'h3' }), T0 + HOUR)).toBeNull();
    expect(bound.checkFlow(flow({ ts: T0 + 2 * HOUR, srcVm: 'a', srcHost: 'h1' }), T0 + HOUR)?.reason).toBe('future_ts');
    expect(bound.sources).toBe(3);
  });
});

describe('snapshots and the watermark', () => {
  const window = toPipelineConfig(opts).window;
  const topics = toPipelineConfig(opts).topics;

  async function save(store: SnapshotStore, p: Pipeline, takenAt: number): Promise<void> {
    // As the service does after each message: the run schedule is set from the watermark.
    p.runDue();
    const service = new ClusterService(p, new InlineClusterer(), toRunOptions(opts));
    await store.save(encodeSnapshot(captureSnapshot(service, [{ topic: 'overlay-flows', partition: 0, next: String(takenAt) }], fleetCodec, takenAt)));
  }

  it('a snapshot taken after far-future records keeps a sane watermark across the restore', async () => {
    const now = T0 + 2 * MIN;
    const { p } = pipelineAt(now);
    minuteOf(p, T0);
    p.ingestMessage('overlay-flows', flowJson(FAR, 'cmp-1'), 'poison');
    minuteOf(p, T0 + MIN, HOSTS.slice(1));
    for (const h of HOSTS.slice(0, 2)) p.ingestMessage('overlay-flows', flowJson(T0 + 2 * HOUR, h), 'ahead');
    const store = new SnapshotStore(await mkdtemp(join(tmpdir(), 'future-snap-')));
    await save(store, p, now);
    const load = await loadLatestSnapshot(store, fleetCodec, { window, topics }, now + 5 * MIN);
    expect(load.problems).toEqual([]);
    expect(load.restored?.fleet.watermark).toBe(T0 + MIN);
    expect(load.restored?.snapshot.pipeline.rejected).toEqual({ count: 3, by_reason: { future_ts: 3 } });
    // The restored service goes on in time: a record of the next minute is neither too late nor lost.
    const back = new Pipeline({ ...toPipelineConfig(opts), future: { maxSkewMs: 5 * MIN, quorum: 3, wallClock: () => now } }, () => {}, load.restored!.fleet);
    minuteOf(back, T0 + 2 * MIN);
    expect(back.rejections.count).toBe(0);
    expect(back.fleet.watermark).toBe(T0 + 2 * MIN);
  });

  it('a snapshot of an older build with far-future tombstones and attributes is restored without them', async () => {
    const store = new SnapshotStore(await mkdtemp(join(tmpdir(), 'future-snap-')));
    const { p } = pipelineAt(null);
    minuteOf(p, T0);
    // As an older build applied them: straight into the fleet state, no bound.
    p.fleet.applyVmAttributes({ ...vmAttrs({ vmId: 'vm-cmp-1', tenantId: 'tenant-a' }), ts: FAR, state: 'deleted' });
    p.fleet.applyVmAttributes({ ...vmAttrs({ vmId: 'vm-cmp-2', tenantId: 'tenant-x' }), ts: FAR });
    p.fleet.applyTenantAttributes({ ts: FAR, tenantId: 'tenant-a', name: 'pinned', tier: null, labels: null, deleted: false });
    await save(store, p, T0 + MIN);

    const load = await loadLatestSnapshot(store, fleetCodec, { window, topics }, T0 + 10 * MIN);
    expect(load.problems).toEqual([]);
    expect(load.restored?.droppedFuture).toEqual({ tombstones: 1, tenants: 1, vmAttributes: 1 });
    const fleet = load.restored!.fleet;
    expect(fleet.watermark).toBe(T0);
    expect([...fleet.deleted.keys()]).toEqual([]);
    expect(fleet.tenants.size).toBe(0);
    expect(fleet.vms.get('vm-cmp-2')?.attributes).toBeNull();
    expect(fleet.vms.get('vm-cmp-2')?.lastSeen).toBe(T0);
    const back = new Pipeline({ ...toPipelineConfig(opts), future: { maxSkewMs: 5 * MIN, quorum: 3, wallClock: () => T0 + 2 * MIN } }, () => {}, fleet);
    minuteOf(back, T0 + MIN);
    back.ingestMessage('vm-attributes', vmJson(T0 + MIN, 'vm-cmp-2'), 'v');
    expect(back.fleet.counters.flowsApplied).toBe(10);
    expect(back.fleet.vms.get('vm-cmp-1')).toBeDefined();
    expect(back.fleet.vms.get('vm-cmp-2')?.attributes?.tenantId).toBe('tenant-a');
  });

  it('a snapshot with a watermark beyond wall clock + skew (an older build, a wrong clock) is skipped with its reason; the older one is restored', async () => {
    const store = new SnapshotStore(await mkdtemp(join(tmpdir(), 'future-snap-')));
    const { p } = pipelineAt(null);
    minuteOf(p, T0);
    await save(store, p, T0);
    // As an older build would have applied it: straight into the fleet state, no bound.
    p.fleet.applyFlow(flow({ ts: FAR, srcVm: 'vm-x', srcHost: 'cmp-1' }));
    expect(p.fleet.watermark).toBe(FAR);
    await save(store, p, T0 + MIN);

    const load = await loadLatestSnapshot(store, fleetCodec, { window, topics }, T0 + 10 * MIN);
    expect(load.problems).toHaveLength(1);
    expect(load.problems[0]!.path).toMatch(/snapshot-00000002\.bin$/);
    expect(load.problems[0]!.error).toBe(
      'its watermark 9999-12-31T23:59:59.000Z is later than the wall clock plus the allowed future skew (2026-11-01T00:10:00.000Z): written under a wrong clock or before future_ts rejects; not restored',
    );
    expect(load.restored?.path).toMatch(/snapshot-00000001\.bin$/);
    expect(load.restored?.fleet.watermark).toBe(T0);
    expect(load.restored?.snapshot.offsets).toEqual([{ topic: 'overlay-flows', partition: 0, next: String(T0) }]);
  });
});
