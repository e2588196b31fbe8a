/**
 * The dashboard's tenant-cluster table reads a tenant cluster's mix of VM clusters as shares of the VM
 * clusters the rest of the page names (vm-6, not the run's internal label 5, nor a square root), in headless
 * Chromium over the small fixture replayed as `alcor-clusters replay` does (a run every five minutes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ClusteringRun } from '../../../src/runs/clustering-run.ts';
import { ensureChromium } from '../../helpers/chromium.ts';
import { appFor, replaySmall } from '../helpers.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let run: ClusteringRun;
let api: FastifyInstance;
let base: string;
let context: BrowserContext;
let profile: string;

beforeAll(async () => {
  // Installed through apt-get when missing (test/helpers/chromium.ts), or a clear error saying what to do.
  await ensureChromium({ path: CHROMIUM });
  const replayed = await replaySmall(5);
  run = replayed.run;
  api = appFor(replayed.view).app;
  await api.listen({ port: 0, host: '127.0.0.1' });
  const address = api.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  base = `http://127.0.0.1:${address.port}`;
  profile = mkdtempSync(join(tmpdir(), 'alcor-ui-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 120_000);

afterAll(async () => {
  await context?.close();
  await api?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('dashboard tenant clusters', () => {
  test('show each cluster\'s VM-cluster mix as shares, named by the VM cluster ids', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/ui`);
    await page.waitForSelector(`body[data-run-id="${run.runId}"]`, { timeout: 20_000 });
    const p2p = await page.textContent('#tenant-clusters tbody tr[data-cluster-id="tenant-3"]');
    expect(p2p).toContain('vm-6_byte_share 0.813 vs 0.142');
    expect(p2p).toContain('vm-6_vm_share 0.676 vs 0.118');
    expect(await page.textContent('#tenant-clusters')).not.toMatch(/vm_cluster_\d/);
    await page.close();
  });
});
