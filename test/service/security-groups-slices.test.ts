/**
 * The service computes a run's security groups in slices: the event loop runs between them, and the
 * document is the one computed at once.
 */
import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { emptyFlowRecord } from '../../src/contract/records.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { ConnectionLog } from '../../src/security-groups/connection-log.ts';
import { membershipOf } from '../../src/runs/membership.ts';
import { type Membership, recommendInSlices, recommendSecurityGroups } from '../../src/security-groups/recommend.ts';
import { inSlices } from '../../src/core/slices.ts';
import { ClusterService } from '../../src/service/cluster-service.ts';
import { InlineClusterer } from '../../src/service/clusterer.ts';
import { readTraceChunks } from '../../src/trace/trace-reader.ts';

const opts = PipelineOptions.parse({ reclusterMinutes: 0 });
const T0 = Date.UTC(2026, 10, 1);
const MIN = 60_000;

describe('security groups in slices', () => {
  it('gives the event loop back between slices and ends with the document computed at once', async () => {
    // 200 servers of 10 groups, each with 300 clients on its own port: 60,000 connections, several slices.
    // Ports below 1024, where no service range forms: one rule a port and side, whatever the learner chains.
    const log = new ConnectionLog(15 * MIN);
    const f = emptyFlowRecord();
    f.protocol = 6;
    f.bytes = 100;
    for (let s = 0; s < 200; s++)
      for (let c = 0; c < 300; c++)
        for (const minute of [1, 2, 3, 50]) {
          f.ts = T0 + minute * MIN;
          f.srcVm = `c${c}`;
          f.dstVm = `s${s}`;
          f.srcIp = `10.1.${c >> 8}.${c & 255}`;
          f.dstIp = `10.2.0.${s}`;
          f.srcPort = 40_000 + c;
          f.dstPort = 100 + s;
          log.add(f);
        }
    expect(log.size).toBe(60_000);
    const ids = [...Array.from({ length: 300 }, (_, c) => `c${c}`), ...Array.from({ length: 200 }, (_, s) => `s${s}`)];
    const m: Membership = {
      runId: 'r',
      computedAt: T0 + 60 * MIN - 1,
      vmIds: ids,
      clusterIds: ids.map((id, i) => (id.startsWith('c') ? 'vm-client' : `vm-${i % 10}`)),
      vmTenants: ids.map(() => 't1'),
      anomalyScores: null,
      clusterNames: new Map(),
    };
    let ticks = 0;
    let ticking = true;
    const tick = (): void => {
      ticks++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const outcome = await inSlices(recommendInSlices(m, log), 0);
    ticking = false;
    const atOnce = recommendSecurityGroups(m, log);
    expect(outcome.document).toEqual(atOnce.document);
    expect(outcome.document.summary.rules).toBe(2 * 200);
    // 60,000 connections in slices of 16,384 through the learning and the check, and the steps between.
    expect(ticks).toBeGreaterThanOrEqual(10);
  });

  it('the service computes them as each run completes, once per run', async () => {
    const pipeline = new Pipeline(toPipelineConfig(opts));
    for await (const c of readTraceChunks('fixtures/small.jsonl.gz')) for (const l of c.lines) if (l) pipeline.ingestTraceLine(l, 'x');
    const service = new ClusterService(pipeline, new InlineClusterer(), toRunOptions(opts), Date.now, { securityGroupsEveryRun: true });
    expect(await service.securityGroups()).toBe(null);
    service.requestRecluster();
    await service.whenIdle();
    const first = service.securityGroups();
    expect(service.securityGroups()).toBe(first);
    const doc = await first;
    expect(doc).toEqual(recommendSecurityGroups(membershipOf(service.latestRun()!), pipeline.connections).document);
    expect(doc!.run_id).toBe(service.latestRun()!.runId);
    expect(doc!.summary.rules).toBeGreaterThan(100);
    // The log's size and cap in the ingest counters (GET /v1/stats), its refusals as a fleet event (/metrics).
    expect(service.ingestStats().connections).toEqual({ held: pipeline.connections.size, max: 1_000_000, refused: 0 });
    expect(service.ingestStats().fleet?.securityGroupConnectionsRefused).toBe(0);
    expect(doc!.summary.connections.held).toBe(pipeline.connections.size);
    await service.close();
  }, 60_000);
});
