/**
 * The Grafana dashboard operators import (grafana/scale-out-dashboard.json) only queries metrics the service
 * exports: a renamed metric would leave a panel silently empty.
 */
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ServiceMetrics } from '../../src/observability/service-metrics.ts';
import { registerScaleOutMetrics, SCALE_OUT_METRICS } from '../../src/topology/metrics.ts';
import { memberStatus } from '../helpers/member-status.ts';

interface Dashboard {
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
}

const SUFFIXES = ['_bucket', '_sum', '_count'];

describe('grafana/scale-out-dashboard.json', () => {
  it('names in every panel query only metrics the service exports, and shows every per-member metric', async () => {
    const registry = new Registry();
    new ServiceMetrics(registry);
    registerScaleOutMetrics(registry, () =>
      memberStatus({ leader: true, leaderships: 1, routedMessages: 5, routedRecords: 9, routeTransactions: 2, appliedRecords: 8, featuresPublished: 3 }),
    );
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
