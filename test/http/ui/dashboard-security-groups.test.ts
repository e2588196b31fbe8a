/**
 * The dashboard's security-groups view in headless Chromium: without a tenant the fleet's figures, with one
 * its groups' rules and what the check would deny, as GET /v1/security-groups gives them.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SecurityGroupsDocument } from '../../../src/security-groups/types.ts';
import type { ServiceView } from '../../../src/service/types.ts';
import { ensureChromium } from '../../helpers/chromium.ts';
import { appFor, replaySmall } from '../helpers.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let view: ServiceView;
let runId: string;
let api: FastifyInstance;
let base: string;
let context: BrowserContext;
let profile: string;

beforeAll(async () => {
  // Installed through apt-get when missing (test/helpers/chromium.ts), or a clear error saying what to do.
  await ensureChromium({ path: CHROMIUM });
  const replayed = await replaySmall();
  view = replayed.view;
  runId = replayed.run.runId;
  api = appFor(view).app;
  await api.listen({ port: 0, host: '127.0.0.1' });
  const address = api.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  base = `http://127.0.0.1:${address.port}`;
  mkdirSync('test-output/ui', { recursive: true });
  profile = mkdtempSync(join(tmpdir(), 'alcor-ui-sg-'));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1400, height: 1800 } });
});

afterAll(async () => {
  await context?.close();
  await api?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function open(url: string): Promise<{ page: Page; problems: string[] }> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('console', (m) => {
    // As in dashboard.test.ts: a 40x the page handles (the favicon) is not a problem.
    if (m.type() === 'error' && !m.text().includes('status of 40')) problems.push(m.text());
  });
  await page.goto(url);
  await page.waitForSelector(`body[data-run-id="${runId}"]`, { timeout: 20_000 });
  return { page, problems };
}

describe('dashboard: security groups', () => {
  test('without a tenant: the fleet figures; with one: a row per rule (or per group without rules) and the denied connections', async () => {
    const doc: SecurityGroupsDocument = (await view.securityGroups!())!;
    const fleet = await open(`${base}/ui/`);
    expect(await fleet.page.textContent('#security-groups-note')).toContain(`${doc.summary.rules.toLocaleString('en-US')} rules over ${doc.summary.tenants} tenants`);
    expect(await fleet.page.$$('#security-groups tbody tr')).toHaveLength(0);
    expect(fleet.problems).toEqual([]);
    await fleet.page.close();

    // The tenant with the most rules.
    const tenant = [...doc.tenants].sort((a, b) => b.rule_count - a.rule_count)[0]!;
    const { page, problems } = await open(`${base}/ui/?tenant=${tenant.tenant_id}`);
    const rows = tenant.security_groups.reduce((n, g) => n + Math.max(1, g.security_group_rules.length), 0);
    expect(await page.$$('.sg-rules tbody tr')).toHaveLength(rows);
    expect(await page.textContent('#security-groups-note')).toContain(`${tenant.rule_count} rules`);
    expect(await page.$$('.sg-denied tbody tr')).toHaveLength(tenant.check.denied.length);
    await page.screenshot({ path: 'test-output/ui/security-groups.png', fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });
});
