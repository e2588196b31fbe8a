/**
 * The dashboard's placement view in headless Chromium: the moves of GET /v1/placement in order, a click on
 * one opens its VM's detail, and the hosts table lists the hosts with the most cross-host traffic.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ClusteringRun } from '../../../src/runs/clustering-run.ts';
import { ensureChromium } from '../../helpers/chromium.ts';
import { appFor, getJson, replaySmall } from '../helpers.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface Advice {
  moves: Array<{ vm_ids: string[]; to_host: string }>;
  migrations: number;
  hosts: Array<{ host_id: string; cross_host_bytes_per_minute_before: number }>;
}

let run: ClusteringRun;
let api: FastifyInstance;
let base: string;
let context: BrowserContext;
let profile: string;

beforeAll(async () => {
  // Installed through apt-get when missing (test/helpers/chromium.ts), or a clear error saying what to do.
  await ensureChromium({ path: CHROMIUM });
  const replayed = await replaySmall();
  run = replayed.run;
  api = appFor(replayed.view).app;
  await api.listen({ port: 0, host: '127.0.0.1' });
  const address = api.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  base = `http://127.0.0.1:${address.port}`;
  profile = mkdtempSync(join(tmpdir(), 'alcor-ui-placement-'));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1400, height: 1800 } });
});

afterAll(async () => {
  await context?.close();
  await api?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('dashboard placement view', () => {
  test('lists the advice in order, opens a moved VM on click, and ranks hosts by cross-host traffic', async () => {
    const advice = (await getJson<Advice>(api, '/v1/placement')).body;
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    await page.goto(`${base}/ui`);
    await page.waitForSelector(`body[data-run-id="${run.runId}"]`, { timeout: 20_000 });
    expect(await page.$$eval('#placement-moves tbody tr', (rows) => rows.map((r) => r.getAttribute('data-vm-id')))).toEqual(advice.moves.map((m) => m.vm_ids[0]));
    expect(await page.textContent('#placement-note')).toContain(`${advice.migrations} of at most 20 migrations`);
    const hosts = [...advice.hosts].sort((a, b) => b.cross_host_bytes_per_minute_before - a.cross_host_bytes_per_minute_before || a.host_id.localeCompare(b.host_id));
    expect(await page.$$eval('#placement-hosts tbody tr td:first-child', (cells) => cells.map((c) => c.textContent))).toEqual(hosts.slice(0, 20).map((h) => h.host_id));
    const first = advice.moves[0]!.vm_ids[0]!;
    await page.click('#placement-moves tbody tr:first-child');
    // Locators, not waitForFunction: the page's CSP forbids eval.
    await page.locator('#vm-detail-id', { hasText: first }).waitFor({ timeout: 10_000 });
    expect(problems).toEqual([]);
    await page.close();
  });
});
