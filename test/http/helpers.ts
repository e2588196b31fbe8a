/**
 * A ServiceView over a replayed run and its fleet, as the composition root would give the API: built once per
 * test file over the committed small fixture's replay (made once per worker: test/helpers/fixture-replay.ts),
 * then varied per test by overriding single methods.
 */
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { buildApp } from '../../src/http/app.ts';
import { ServiceMetrics } from '../../src/observability/service-metrics.ts';
import { trackedTenantCount } from '../../src/fleet/tracked-tenants.ts';
import type { ClusteringRun } from '../../src/runs/clustering-run.ts';
import { takeRunInput } from '../../src/runs/run-input.ts';
import type { ServiceView, VmView } from '../../src/service/types.ts';
import { fixtureReplay } from '../helpers/fixture-replay.ts';

export interface Replayed {
  run: ClusteringRun;
  view: ServiceView;
}

/** One final run by default; with `reclusterMinutes` (5: the CLI's default) the runs a replay makes on the way. */
export async function replaySmall(reclusterMinutes = 0): Promise<Replayed> {
  const { lastRun, pipeline, history, securityGroups } = await fixtureReplay('small', reclusterMinutes);
  if (lastRun === null) throw new Error('the fixture produced no run');
  const fleet = pipeline.fleet;
  // Features as the live state has them (before imputation), one row per live VM.
  const input = takeRunInput(fleet);
  const features = new Map<string, Record<string, number>>();
  input.vmIds.forEach((id, row) => {
    const values: Record<string, number> = {};
    const m = input.vmFeatures;
    m.names.forEach((name, j) => {
      values[name] = m.data[row * m.cols + j]!;
    });
    features.set(id, values);
  });
  let reclusters = 0;
  const view: ServiceView = {
    latestRun: () => lastRun,
    runInProgress: () => null,
    vm: (vmId): VmView | null => {
      const e = fleet.vms.get(vmId);
      if (e === undefined) return null;
      return { vmId, tenantId: e.tenantId, attributes: e.attributes, features: features.get(vmId) ?? null, lastSeen: e.lastSeen };
    },
    tenant: (tenantId) => fleet.tenants.get(tenantId) ?? null,
    requestRecluster: () => ({ runId: `run-request-${++reclusters}`, started: true }),
    ingestStats: () => ({
      messages: pipeline.messagesIn,
      records: { ...pipeline.recordsIn },
      rejected: pipeline.rejections.summary(),
      watermark: fleet.watermark,
      vmsTracked: fleet.vms.size,
      tenantsTracked: trackedTenantCount(fleet),
    }),
    inputsReady: () => true,
    firstRunCompleted: () => true,
    runHistory: () => history,
    securityGroups: () => securityGroups?.document ?? null,
  };
  return { run: lastRun, view };
}

export interface TestApp {
  app: FastifyInstance;
  metrics: ServiceMetrics;
}

/** An app over `view` with its own registry, so that apps in one process do not share metrics. */
export function appFor(view: ServiceView): TestApp {
  const metrics = new ServiceMetrics(new Registry());
  return { app: buildApp(view, { metrics }), metrics };
}

export async function getJson<T = unknown>(app: FastifyInstance, url: string): Promise<{ status: number; body: T }> {
  const res = await app.inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.json<T>() };
}
