/**
 * The Grafana dashboard operators import (grafana/scale-out-dashboard.json) only queries metrics the service
 * exports: a renamed metric would leave a panel silently empty.
 */
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ServiceMetrics } from '../../src/observability/service-metrics.ts';
import { registerScaleOutMetrics, SCALE_OUT_METRICS } from '../../src/topology/metrics.ts';

interface Dashboard {
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
}

const SUFFIXES = ['_bucket', '_sum', '_count'];

describe('grafana/scale-out-dashboard.json', () => {
  it('names in every panel query only metrics the service exports, and shows every per-member metric', async () => {
    const registry = new Registry();
    new ServiceMetrics(registry);
    registerScaleOutMetrics(registry, () => ({
      leader: true,
      partitions: [0, 1],
      vms: 10,
      leaderships: 1,
      records: { flows: 0, vmAttributes: 0, tenantAttributes: 0 },
      rejected: { count: 0, by_reason: {} },
      held: { flows: 0, bytes: 0, held: 0, refused: 0, endsAttributedLate: 0, expired: 0 },
      changelogLag: 0,
      restores: { local: 1, changelog: 1, input: 0, rebuilt: 0 },
      lastRestoreMs: 12,
      routedMessages: 5,
      routedRecords: 9,
      routeTransactions: 2,
      appliedRecords: 8,
      featuresPublished: 3,
      ticksNotSentAgain: 0,
      routeWorkerRestarts: 0,
      runsNotServed: { unreadable: 0, torn: 0 },
      stageSeconds: { route: { fetch_wait: 1, route: 2, dead_letters: 0, send: 1, offsets: 1, commit: 1 }, window: { fetch_wait: 3, apply: 2, publish: 1 } },
    }));
    const exported = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
    const dashboard = JSON.parse(readFileSync('grafana/scale-out-dashboard.json', 'utf8')) as Dashboard;
    expect(dashboard.panels.length).toBeGreaterThan(0);
    const queried = new Set<string>();
    for (const panel of dashboard.panels) {
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const { expr } of panel.targets) {
        const names = expr.match(/\balcor_[a-z0-9_]+/g) ?? [];
        expect(names.length, `${panel.title}: ${expr}`).toBeGreaterThan(0);
        for (const name of names) {
          const base = SUFFIXES.reduce((n, s) => (n.endsWith(s) && exported.has(n.slice(0, -s.length)) ? n.slice(0, -s.length) : n), name);
          expect(exported.has(base), `${panel.title}: ${name} is not exported`).toBe(true);
          queried.add(base);
        }
      }
    }
    for (const name of SCALE_OUT_METRICS) expect(queried.has(name), name).toBe(true);
  });
});
