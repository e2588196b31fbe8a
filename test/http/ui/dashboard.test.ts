/**
 * The dashboard end to end in headless Chromium (Debian's package, driven by playwright-core): the service
 * fed with the small fixture, the page loaded from /ui, the views checked against the API's own answers.
 * Screenshots go to test-output/ui/ (git-ignored). Without Chromium these tests fail, on purpose: a browser
 * test that skips itself would pass on a machine where the dashboard was never loaded.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AffinityGraph, VmProjection } from '../../../src/http/dashboard-schemas.ts';
import type { AnomalyList, ClusterList, RunList, TenantPage, VmPage } from '../../../src/http/schemas.ts';
import type { ClusteringRun } from '../../../src/runs/clustering-run.ts';
import type { RunRecord } from '../../../src/runs/history.ts';
import type { ServiceView } from '../../../src/service/types.ts';
import { ensureChromium } from '../../helpers/chromium.ts';
import { appFor, getJson, replaySmall } from '../helpers.ts';
import { keysFor, largestTenants, securedApp, TENANT_A_KEY, type Tenants } from '../auth/setup.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = 'test-output/ui';
/** Flags that keep Chromium quiet on a machine without network (it otherwise retries its background services). */
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let view: ServiceView;
let run: ClusteringRun;
let history: RunRecord[];
let api: FastifyInstance;
let base: string;
let context: BrowserContext;
let profile: string;

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return `http://127.0.0.1:${address.port}`;
}

async function openDashboard(url: string): Promise<Page> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().includes('status of 40')) problems.push(m.text());
  });
  await page.goto(url);
  (page as Page & { problems?: string[] }).problems = problems;
  return page;
}

const problemsOf = (page: Page): string[] => (page as Page & { problems?: string[] }).problems ?? [];

async function waitForRun(page: Page, runId: string): Promise<void> {
  await page.waitForSelector(`body[data-run-id="${runId}"]`, { timeout: 20_000 });
}

beforeAll(async () => {
  // Installed through apt-get when missing (test/helpers/chromium.ts), or a clear error saying what to do.
  await ensureChromium({ path: CHROMIUM });
  const replayed = await replaySmall();
  run = replayed.run;
  history = [...replayed.view.runHistory()];
  // A view whose latest run and history the tests can move on, as the service's do when a run lands.
  let latest = run;
  view = { ...replayed.view, latestRun: () => latest, runHistory: () => history };
  (view as ServiceView & { land?: (r: ClusteringRun, record: RunRecord) => void }).land = (r, record) => {
    latest = r;
    history = [...history, record];
  };
  api = appFor(view).app;
  base = await listen(api);
  mkdirSync(SCREENSHOTS, { recursive: true });
  profile = mkdtempSync(join(tmpdir(), 'alcor-ui-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1400, height: 1800 },
  });
});

afterAll(async () => {
  await context?.close();
  await api?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('dashboard at /ui', () => {
  test('shows every VM cluster, the scatter of all VMs, the anomalies and the run history', async () => {
    const clusters = (await getJson<ClusterList>(api, '/v1/clusters/vms')).body;
    const anomalies = (await getJson<AnomalyList>(api, '/v1/anomalies')).body;
    const page = await openDashboard(`${base}/ui`);
    await waitForRun(page, run.runId);

    const clusterRows = await page.$$eval('#clusters tbody tr', (rows) => rows.map((r) => r.getAttribute('data-cluster-id')));
    expect(clusterRows).toEqual(clusters.clusters.map((c) => c.cluster_id));
    const firstName = clusters.clusters[0]!.name;
    if (firstName !== undefined) expect(await page.textContent('#clusters tbody tr:first-child')).toContain(firstName);
    expect(await page.getAttribute('#scatter', 'data-points')).toBe(String(run.vms.ids.length));
    expect(await page.$$eval('#anomalies tbody tr', (rows) => rows.map((r) => r.getAttribute('data-vm-id')))).toEqual(anomalies.items.map((a) => a.vm_id));
    expect(await page.$$eval('#runs tbody tr', (rows) => rows.map((r) => r.getAttribute('data-run-id')))).toEqual([run.runId]);
    expect(await page.isHidden('#message')).toBe(true);
    await page.screenshot({ path: `${SCREENSHOTS}/overview.png`, fullPage: true });
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  test('a click on a scatter point shows that VM\'s detail and its affinity graph', async () => {
    const page = await openDashboard(`${base}/ui/`);
    await waitForRun(page, run.runId);
    // Where echarts drew the first point of the first series, from the chart itself.
    // Where echarts drew the point that stands furthest from any other (so no other point hides it), from
    // the chart itself. A string, not a function: vitest would rewrite a function's dynamic import for Node.
    const point = await page.evaluate<{ vmId: string; x: number; y: number }>(`(async () => {
      const echarts = await import('/ui/vendor/echarts.esm.min.mjs');
      const element = document.getElementById('scatter');
      const chart = echarts.getInstanceByDom(element);
      const points = chart.getOption().series.flatMap((series, seriesIndex) =>
        series.data.map((d) => {
          const [x, y] = chart.convertToPixel({ seriesIndex }, d.value);
          return { vmId: d.name, x, y };
        }),
      );
      let best = null;
      let bestGap = -1;
      for (const p of points) {
        let gap = Infinity;
        for (const q of points) if (q !== p) gap = Math.min(gap, Math.hypot(p.x - q.x, p.y - q.y));
        if (gap > bestGap) { best = p; bestGap = gap; }
      }
      const box = element.getBoundingClientRect();
      return { vmId: best.vmId, x: box.left + best.x, y: box.top + best.y };
    })()`);
    await page.mouse.move(point.x, point.y);
    // The tooltip is a div the chart adds to its element. (Locators, not waitForFunction: the page's CSP forbids eval.)
    await page.locator('#scatter div', { hasText: point.vmId }).first().waitFor({ timeout: 5000 });
    await page.mouse.click(point.x, point.y);
    await page.locator('#vm-detail-id', { hasText: point.vmId }).waitFor({ timeout: 10_000 });
    expect(await page.textContent('#vm-detail-id')).toBe(point.vmId);

    const detail = (await getJson<{ cluster_id: string; anomaly_score: number; confidence: number; tenant_id: string }>(api, `/v1/vms/${point.vmId}`)).body;
    const text = await page.textContent('#vm-detail');
    expect(text).toContain(detail.cluster_id);
    expect(text).toContain(detail.tenant_id);
    expect(text).toContain('anomaly score');
    expect(text).toContain('Features over the window');
    expect(await page.$$eval('#vm-features tbody tr', (rows) => rows.length)).toBe(run.vms.features.cols);

    const graph = (await getJson<AffinityGraph>(api, `/v1/affinity-graph?vm_id=${point.vmId}&limit=80`)).body;
    await page.locator('#affinity-note', { hasText: point.vmId }).waitFor({ timeout: 10_000 });
    expect(await page.textContent('#affinity-note')).toContain(`${graph.nodes.length} of ${graph.total_nodes} VMs, ${graph.edges.length} traffic links`);
    await page.screenshot({ path: `${SCREENSHOTS}/vm-detail.png`, fullPage: true });
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  test('an affinity group and a run\'s lifecycle events on request', async () => {
    const page = await openDashboard(`${base}/ui/`);
    await waitForRun(page, run.runId);
    await page.selectOption('#group-select', 'g-0');
    const graph = (await getJson<AffinityGraph>(api, '/v1/affinity-graph?group_id=g-0&limit=80')).body;
    await page.locator('#affinity-note', { hasText: /^g-0:/ }).waitFor({ timeout: 10_000 });
    expect(await page.textContent('#affinity-note')).toContain(`${graph.nodes.length} of ${graph.total_nodes} VMs`);

    await page.click(`#runs tbody tr[data-run-id="${run.runId}"]`);
    await page.waitForSelector('#run-events h3', { timeout: 10_000 });
    expect(await page.textContent('#run-events')).toContain(`VM clusters in ${run.runId}`);
    await page.screenshot({ path: `${SCREENSHOTS}/affinity-group.png`, fullPage: true });
    await page.close();
  });

  test('a tenant\'s view shows only its VMs and its tenant record', async () => {
    const tenants = (await getJson<TenantPage>(api, '/v1/tenants?limit=1000')).body.items;
    const tenant = [...tenants].sort((a, b) => b.vm_count - a.vm_count || a.tenant_id.localeCompare(b.tenant_id))[0]!;
    const vms = (await getJson<VmPage>(api, `/v1/vms?tenant_id=${tenant.tenant_id}&limit=1000`)).body.items;
    const projection = (await getJson<VmProjection>(api, `/v1/vm-projection?tenant_id=${tenant.tenant_id}`)).body;
    const page = await openDashboard(`${base}/ui/?tenant=${tenant.tenant_id}`);
    await waitForRun(page, run.runId);

    expect(await page.textContent('#clusters-title')).toBe(`VM clusters of tenant ${tenant.tenant_id}`);
    expect(await page.getAttribute('#scatter', 'data-points')).toBe(String(vms.length));
    expect(projection.vm_id.sort()).toEqual(vms.map((v) => v.vm_id).sort());
    const ownClusters = [...new Set(vms.map((v) => v.cluster_id))].sort();
    const rows = await page.$$eval('#clusters tbody tr', (trs) => trs.map((r) => r.getAttribute('data-cluster-id')));
    expect([...rows].sort()).toEqual(ownClusters);
    expect(await page.textContent('#tenant-detail-id')).toContain(tenant.tenant_id);
    expect(await page.inputValue('#tenant-select')).toBe(tenant.tenant_id);
    await page.screenshot({ path: `${SCREENSHOTS}/tenant.png`, fullPage: true });
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  test('redraws when a new run lands', async () => {
    const page = await openDashboard(`${base}/ui/?poll=500`);
    await waitForRun(page, run.runId);
    const next: ClusteringRun = { ...run, runId: 'run-000002' };
    const record: RunRecord = { ...history[history.length - 1]!, runId: 'run-000002', changes: { ...history[history.length - 1]!.changes, previousRunId: run.runId } };
    (view as ServiceView & { land: (r: ClusteringRun, record: RunRecord) => void }).land(next, record);
    await waitForRun(page, 'run-000002');
    const runs = (await getJson<RunList>(api, '/v1/runs')).body.runs.map((r) => r.run_id);
    expect(await page.$$eval('#runs tbody tr', (trs) => trs.map((r) => r.getAttribute('data-run-id')))).toEqual(runs);
    expect(await page.textContent('#run-status')).toContain('run-000002');
    await page.close();
  });
});

/**
 * Everything a panel shows stays inside it: no section scrolls sideways, no table or chart reaches past its
 * section's content box, and no cell of the given tables clips its text. Returns the offenders, described.
 */
async function overflows(page: Page, clippedTables: string[]): Promise<string[]> {
  return page.evaluate<string[]>(`(() => {
    const out = [];
    for (const section of document.querySelectorAll('main section:not([hidden])')) {
      if (section.scrollWidth > section.clientWidth + 1) out.push(section.id + ' scrolls sideways: ' + section.scrollWidth + ' > ' + section.clientWidth);
      const box = section.getBoundingClientRect();
      const style = getComputedStyle(section);
      const right = box.left + section.clientLeft + section.clientWidth - parseFloat(style.paddingRight);
      for (const inner of section.querySelectorAll('table, .chart, dl, p, h2, h3')) {
        const r = inner.getBoundingClientRect();
        if (r.width > 0 && r.right > right + 1) out.push(section.id + ' ' + (inner.id || inner.tagName) + ' reaches past its panel: ' + Math.round(r.right) + ' > ' + Math.round(right));
      }
    }
    for (const table of ${JSON.stringify(clippedTables)}) {
      for (const cell of document.querySelectorAll(table + ' td, ' + table + ' th')) {
        if (cell.scrollWidth > cell.clientWidth + 1) out.push(table + ' clips "' + cell.textContent + '": ' + cell.scrollWidth + ' > ' + cell.clientWidth);
      }
    }
    return out;
  })()`);
}

/** Distance between two colours in CIE L*a*b* (ΔE 1976): below about 10 two markers read as one colour. */
function deltaE(a: string, b: string): number {
  const lab = (hex: string): number[] => {
    const [r, g, bl] = [1, 3, 5].map((i) => {
      const c = Number.parseInt(hex.slice(i, i + 2), 16) / 255;
      return c > 0.04045 ? ((c + 0.055) / 1.055) ** 2.4 : c / 12.92;
    }) as [number, number, number];
    const f = (t: number): number => (t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116);
    const x = f((0.4124 * r + 0.3576 * g + 0.1805 * bl) / 0.95047);
    const y = f(0.2126 * r + 0.7152 * g + 0.0722 * bl);
    const z = f((0.0193 * r + 0.1192 * g + 0.9505 * bl) / 1.08883);
    return [116 * y - 16, 500 * (x - y), 200 * (y - z)];
  };
  const [p, q] = [lab(a), lab(b)];
  return Math.hypot(p[0]! - q[0]!, p[1]! - q[1]!, p[2]! - q[2]!);
}

interface ScatterState {
  series: Array<{ name: string; colour: string; symbol: string; points: Array<{ vmId: string; x: number; y: number; px: number }> }>;
  grid: { left: number; width: number };
  xExtent: [number, number];
}

/** The scatter as echarts holds it: each series' style and points, with their pixel x. */
async function scatterState(page: Page): Promise<ScatterState> {
  return page.evaluate<ScatterState>(`(async () => {
    const echarts = await import('/ui/vendor/echarts.esm.min.mjs');
    const chart = echarts.getInstanceByDom(document.getElementById('scatter'));
    const option = chart.getOption();
    const rect = chart.getModel().getComponent('grid', 0).coordinateSystem.getRect();
    return {
      series: option.series.filter((s) => s.name !== 'selected').map((s, seriesIndex) => ({
        name: s.name,
        colour: s.itemStyle.color,
        symbol: s.symbol ?? 'circle',
        points: s.data.map((d) => ({ vmId: d.name, x: d.value[0], y: d.value[1], px: chart.convertToPixel({ seriesIndex }, d.value)[0] })),
      })),
      grid: { left: rect.x, width: rect.width },
      xExtent: chart.getModel().getComponent('xAxis', 0).axis.scale.getExtent(),
    };
  })()`);
}

/** The newest run the API lists (an earlier test lands a second one). */
const newestRun = async (): Promise<string> => (await getJson<RunList>(api, '/v1/runs')).body.runs[0]!.run_id;

describe('dashboard layout, colours and links', () => {
  test('no panel, table or chart overflows; every feature has its cluster and fleet means; anomalies stay one line', async () => {
    const page = await openDashboard(`${base}/ui/`);
    await waitForRun(page, await newestRun());
    expect(await overflows(page, ['#clusters', '#tenant-clusters', '#runs'])).toEqual([]);

    // Anomalies keep to one line each, whatever their cluster's name: a row no taller than the header's.
    const heights = await page.$$eval('#anomalies tr', (rows) => rows.map((r) => r.getBoundingClientRect().height));
    expect(heights.length).toBeGreaterThan(5);
    expect(Math.max(...heights.slice(1))).toBeLessThanOrEqual(heights[0]! * 1.2);
    const anomalies = (await getJson<AnomalyList>(api, '/v1/anomalies')).body.items;
    const first = anomalies[0]!;
    const clusterName = (await getJson<ClusterList>(api, '/v1/clusters/vms')).body.clusters.find((c) => c.cluster_id === first.cluster_id)?.name;
    expect(await page.getAttribute('#anomalies tbody tr:first-child td:nth-child(3) span', 'title')).toBe(clusterName ? `${first.cluster_id} · ${clusterName}` : first.cluster_id);

    // An anomaly far down the page: clicking it brings the VM's detail into view, at its top.
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.locator('#anomalies tbody tr').first().scrollIntoViewIfNeeded();
    await page.click('#anomalies tbody tr:first-child');
    await page.locator('#vm-detail-id', { hasText: first.vm_id }).waitFor({ timeout: 10_000 });
    await page.waitForTimeout(100);
    const box = await page.evaluate<{ top: number; bottom: number; height: number; scrollTop: number }>(
      `(() => { const p = document.getElementById('detail-panel'); const r = p.getBoundingClientRect(); return { top: r.top, bottom: r.bottom, height: innerHeight, scrollTop: p.scrollTop }; })()`,
    );
    expect(box.top).toBeGreaterThanOrEqual(0);
    expect(box.bottom).toBeLessThanOrEqual(box.height);
    expect(box.scrollTop).toBe(0);

    // Every feature, with its cluster's and the fleet's means as the API gives them; nothing clipped.
    const detail = (await getJson<{ features: Record<string, number | null>; cluster_means: Record<string, number | null>; fleet_means: Record<string, number | null> }>(api, `/v1/vms/${first.vm_id}`)).body;
    const rows = await page.$$eval('#vm-features tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-feature'), ...[...tr.querySelectorAll('td')].map((td) => td.textContent)]));
    expect(rows.map((r) => r[0]).sort()).toEqual(Object.keys(detail.features).sort());
    expect(rows).toHaveLength(run.vms.features.cols);
    const shown = (v: string | null | undefined) => v !== '' && v !== '–' && v !== undefined && v !== null;
    for (const [feature, , , clusterMean, fleetMean] of rows) {
      expect([feature, shown(clusterMean)]).toEqual([feature, detail.cluster_means[feature!] !== null]);
      expect([feature, shown(fleetMean)]).toEqual([feature, detail.fleet_means[feature!] !== null]);
    }
    expect(rows.filter((r) => shown(r[3]) && shown(r[4])).length).toBeGreaterThan(40);
    await page.setViewportSize({ width: 1400, height: 1800 });
    expect(await overflows(page, ['#vm-features', '#clusters', '#tenant-clusters', '#runs'])).toEqual([]);
    await page.screenshot({ path: `${SCREENSHOTS}/layout.png`, fullPage: true });

    // A narrower window (one column of panels) clips nothing either.
    await page.setViewportSize({ width: 820, height: 1200 });
    await page.waitForTimeout(200);
    expect(await overflows(page, ['#vm-features', '#clusters', '#tenant-clusters', '#runs'])).toEqual([]);
    await page.screenshot({ path: `${SCREENSHOTS}/layout-narrow.png`, fullPage: true });
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  test('a selected VM can be linked to; the tenant picker shows names; / leads to the dashboard', async () => {
    const page = await openDashboard(`${base}/`);
    expect(new URL(page.url()).pathname).toBe('/ui/');
    await waitForRun(page, await newestRun());
    const vmId = (await getJson<AnomalyList>(api, '/v1/anomalies')).body.items[1]!.vm_id;
    await page.click(`#anomalies tbody tr[data-vm-id="${vmId}"]`);
    await page.locator('#vm-detail-id', { hasText: vmId }).waitFor({ timeout: 10_000 });
    expect(new URL(page.url()).searchParams.get('vm')).toBe(vmId);

    const linked = await openDashboard(page.url());
    await waitForRun(linked, await newestRun());
    await linked.locator('#vm-detail-id', { hasText: vmId }).waitFor({ timeout: 10_000 });
    await linked.locator('#affinity-note', { hasText: vmId }).waitFor({ timeout: 10_000 });
    expect(problemsOf(linked)).toEqual([]);
    await linked.close();

    const tenants = (await getJson<TenantPage>(api, '/v1/tenants?limit=1000')).body.items;
    const options = await page.$$eval('#tenant-select option', (os) => os.map((o) => [o.getAttribute('value'), o.textContent]));
    for (const t of tenants) {
      const name = view.tenant(t.tenant_id)?.name;
      expect(options).toContainEqual([t.tenant_id, `${name ?? t.tenant_id} (${t.vm_count} VMs)`]);
    }
    expect(tenants.filter((t) => view.tenant(t.tenant_id)?.name).length).toBeGreaterThan(tenants.length / 2);
    await page.close();
  });

  test('two dozen clusters keep distinct colour-and-marker pairs, the same in the scatter and the tables', async () => {
    const page = await openDashboard(`${base}/ui/`);
    await waitForRun(page, await newestRun());
    const scatter = await scatterState(page);
    expect(scatter.series.length).toBe(run.vms.outcome.k);
    expect(scatter.series.length).toBeGreaterThanOrEqual(24);
    const pairs = scatter.series.map((s) => `${s.colour} ${s.symbol}`);
    expect(new Set(pairs).size).toBe(pairs.length);
    // The swatch next to each cluster id in the table draws the scatter's marker in its colour.
    const swatches = await page.$$eval('#clusters tbody tr', (trs) =>
      trs.map((tr) => {
        const svg = tr.querySelector('svg.swatch');
        return [tr.getAttribute('data-cluster-id'), svg?.getAttribute('data-marker'), svg?.firstElementChild?.getAttribute('fill')];
      }),
    );
    expect(swatches).toEqual(scatter.series.map((s) => [s.name, s.symbol, s.colour]).sort((a, b) => a[0]!.localeCompare(b[0]!, 'en', { numeric: true })));

    // The palette has no near twins, and ids that collide by number (vm-3, vm-75, vm-147 ...) still get
    // distinct styles when they are in one run together.
    const styles = await page.evaluate<{ palette: string[]; assigned: Array<[string, string, string]> }>(`(async () => {
      const colours = await import('/ui/js/colours.js');
      const ids = [];
      for (let i = 1; i <= 24; i++) ids.push('vm-' + (i * 36 + 3));
      for (let i = 0; i < 24; i++) ids.push('vm-' + i);
      const styles = colours.clusterStyles(ids);
      return { palette: colours.PALETTE, assigned: ids.map((id) => [id, styles.get(id).colour, styles.get(id).marker]) };
    })()`);
    const distances = styles.palette.flatMap((a, i) => styles.palette.slice(i + 1).map((b) => deltaE(a, b)));
    expect(Math.min(...distances)).toBeGreaterThan(25);
    expect(styles.palette.every((c) => deltaE(c, '#b8b8b8') > 20)).toBe(true);
    expect(new Set(styles.assigned.map(([, c, m]) => `${c} ${m}`)).size).toBe(styles.assigned.length);
    await page.close();
  });

  test('one far outlier does not squash the scatter: robust axis limits, the outlier drawn on the edge', async () => {
    const projection = run.vmProjection!;
    const far = projection.x.indexOf(Math.max(...projection.x));
    const x = Float32Array.from(projection.x);
    x[far] = x[far]! * 200 + 1000;
    const skewed: ClusteringRun = { ...run, vmProjection: { ...projection, x } };
    const other = appFor({ ...view, latestRun: () => skewed }).app;
    const otherBase = await listen(other);
    try {
      const page = await openDashboard(`${otherBase}/ui/`);
      await waitForRun(page, await newestRun());
      const scatter = await scatterState(page);
      const points = scatter.series.flatMap((s) => s.points);
      const outlier = points.find((p) => p.vmId === run.vms.ids[far])!;
      // Drawn at the axis' end rather than stretching it.
      expect(outlier.x).toBe(scatter.xExtent[1]);
      expect(scatter.xExtent[1]).toBeLessThan(x[far]! / 10);
      // The rest spreads over most of the plot.
      const pixels = points.filter((p) => p !== outlier).map((p) => p.px);
      expect(Math.max(...pixels) - Math.min(...pixels)).toBeGreaterThan(scatter.grid.width * 0.7);
      expect(await page.textContent('#scatter-note')).toMatch(/1st to 99th percentiles: \d+ VMs? (lies|lie) beyond/);
      await page.screenshot({ path: `${SCREENSHOTS}/outlier.png`, fullPage: true });
      expect(problemsOf(page)).toEqual([]);
      await page.close();
    } finally {
      await other.close();
    }
  });
});

describe('dashboard with API keys', () => {
  let secured: FastifyInstance;
  let securedBase: string;
  let guarded: FastifyInstance;
  let guardedBase: string;
  let tenants: Tenants;
  const seen: Array<string | undefined> = [];

  beforeAll(async () => {
    // The service's own access control: one admin and two tenant keys.
    tenants = largestTenants(view);
    secured = securedApp(view, { keys: await keysFor(tenants) });
    secured.addHook('onRequest', async (request) => {
      if (request.url.startsWith('/v1/')) seen.push(request.headers.authorization);
    });
    securedBase = await listen(secured);
    // A stand-in that answers 403 to a valid key out of its scope, which no route the dashboard calls does.
    guarded = appFor(view).app;
    guarded.addHook('onRequest', async (request, reply) => {
      if (request.url.startsWith('/v1/')) return reply.code(403).send({ error: 'forbidden', message: 'outside the key\'s scope' });
    });
    guardedBase = await listen(guarded);
  });

  afterAll(async () => {
    await secured?.close();
    await guarded?.close();
  });

  test('asks for a key on 401, then sends it on every request and shows what the key may see', async () => {
    const page = await openDashboard(`${securedBase}/ui/`);
    await page.waitForSelector('#message:not([hidden])', { timeout: 10_000 });
    expect(await page.textContent('#message')).toContain('requires an API key (401)');
    await page.screenshot({ path: `${SCREENSHOTS}/needs-key.png`, fullPage: true });

    await page.fill('#api-key', TENANT_A_KEY);
    seen.length = 0;
    await page.click('#key-form button[type=submit]');
    const newest = (await getJson<RunList>(api, '/v1/runs')).body.runs[0]!.run_id;
    await waitForRun(page, newest);
    expect(await page.isHidden('#message')).toBe(true);
    const own = run.vms.ids.filter((_, row) => run.vmTenants[row] === tenants.a);
    expect(await page.getAttribute('#scatter', 'data-points')).toBe(String(own.length));
    const ownClusters = new Set(run.vms.clusterIds.filter((_, row) => run.vmTenants[row] === tenants.a));
    const rows = await page.$$eval('#clusters tbody tr', (trs) => trs.map((r) => r.getAttribute('data-cluster-id')));
    expect(new Set(rows)).toEqual(ownClusters);
    expect(seen.length).toBeGreaterThan(5);
    expect(seen.every((h) => h === `Bearer ${TENANT_A_KEY}`)).toBe(true);
    expect(await page.evaluate(`sessionStorage.getItem('alcor.apiKey')`)).toBe(TENANT_A_KEY);
    await page.screenshot({ path: `${SCREENSHOTS}/tenant-key.png`, fullPage: true });

    await page.fill('#api-key', 'not-a-key');
    await page.click('#key-form button[type=submit]');
    await page.waitForSelector('#message:not([hidden])', { timeout: 10_000 });
    expect(await page.textContent('#message')).toContain('(401)');
    await page.close();
  });

  test('says so when the key is not allowed (403)', async () => {
    const page = await openDashboard(`${guardedBase}/ui/`);
    await page.waitForSelector('#message:not([hidden])', { timeout: 10_000 });
    expect(await page.textContent('#message')).toContain('not allowed to see this (403)');
    await page.close();
  });
});
