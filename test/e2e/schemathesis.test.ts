/**
 * Schemathesis against the real service (the bundled small trace, no Kafka), with and without API keys, all
 * checks on: every answer must be documented with its status, content type, headers and schema; requests
 * the document calls invalid must be refused and valid ones accepted; protected operations must refuse a
 * missing or wrong key; undeclared methods must answer 405 with Allow; and nothing may answer 5xx.
 * Bounded examples and a fixed seed keep it to about ten seconds a run (three runs: no keys, an admin key,
 * a tenant key).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSchemathesis, fuzz } from '../helpers/schemathesis.ts';
import { getJson, type ServiceProcess, startServiceProcess, waitFor } from '../helpers/service-process.ts';

const ADMIN_KEY = 'schemathesis-admin-key-0123456789abcdef0123';
const TENANT_KEY = 'schemathesis-tenant-key-0123456789abcdef012';
const sha256 = (key: string): string => createHash('sha256').update(key).digest('hex');

const SEED = 1;
const MAX_EXAMPLES = 20;
/** Operations in the document (test/http/api.test.ts lists them). */
const OPERATIONS = 23;

/** The fixture's largest tenant, so that the tenant key sees VMs, clusters and groups of its own. */
function largestTenant(): string {
  const truth = JSON.parse(readFileSync('fixtures/small.truth.json', 'utf8')) as { tenants: Record<string, { size: number }> };
  return Object.entries(truth.tenants).sort((a, b) => b[1].size - a[1].size || (a[0] < b[0] ? -1 : 1))[0]![0];
}

let cli: string;
let open: ServiceProcess;
let keyed: ServiceProcess;

async function ready(service: ServiceProcess): Promise<void> {
  await waitFor(async () => ((await getJson(`${service.url}/readyz`)).status === 200 ? true : undefined), 120_000, 'the service to be ready');
}

beforeAll(async () => {
  [cli, open, keyed] = await Promise.all([
    ensureSchemathesis(),
    startServiceProcess({}),
    // A limit Schemathesis never reaches: the limiter counts before the key is checked (no key oracle), and
    // Schemathesis' ST203 wants 401, not 429, for a request without a key, so a 429 there fails it by timing
    // alone (it did on an idle machine). The documented 429s are checked by real requests in openapi.test.ts.
    startServiceProcess({
      API_KEYS: `${sha256(ADMIN_KEY)}:admin,${sha256(TENANT_KEY)}:tenant:${largestTenant()}`,
      RATE_LIMIT_MAX: '100000',
      RATE_LIMIT_WINDOW_SECONDS: '1',
    }),
  ]);
  await Promise.all([ready(open), ready(keyed)]);
}, 240_000);

afterAll(async () => {
  await Promise.all([open?.stop(), keyed?.stop()]);
});

function expectClean(result: { exitCode: number; output: string }): void {
  // The whole report on failure: it names each failing check with a curl line that reproduces it.
  expect(result.exitCode, result.output).toBe(0);
  expect(result.output, result.output).toContain(`Tested: ${OPERATIONS}`);
  expect(result.output).toMatch(/(\d+) generated, \1 passed/);
}

describe('Schemathesis, all checks', () => {
  it('finds nothing against the open API (no keys configured)', async () => {
    expectClean(await fuzz(cli, `${open.url}/docs/json`, { maxExamples: MAX_EXAMPLES, seed: SEED }));
  }, 180_000);

  it('finds nothing with API keys (it sends the admin key, and probes without one and with a wrong one)', async () => {
    expectClean(await fuzz(cli, `${keyed.url}/docs/json`, { maxExamples: MAX_EXAMPLES, seed: SEED, headers: [`Authorization: Bearer ${ADMIN_KEY}`] }));
  }, 180_000);

  it('finds nothing with a tenant key (403 on the admin-only operations, its own records elsewhere)', async () => {
    expectClean(await fuzz(cli, `${keyed.url}/docs/json`, { maxExamples: MAX_EXAMPLES, seed: SEED, headers: [`Authorization: Bearer ${TENANT_KEY}`] }));
  }, 180_000);
});
