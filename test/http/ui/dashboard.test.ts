/**
 * The dashboard end to end in headless Chromium (Debian's package, driven by playwright-core): the service
 * fed with the small fixture, the page loaded from /ui, the views checked against the API's own answers.
 * Screenshots go to test-output/ui/ (git-ignored). Without Chromium these tests fail, on purpose: a browser
 * test that skips itself would pass on a machine where the dashboard was never loaded.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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
import { appFor, getJson, replaySmall } from '../helpers.ts';
import { keysFor, largestTenants, securedApp, TENANT_A_KEY, type Tenants } from '../security/setup.ts';

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
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}: the dashboard's browser tests need it (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  }
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
