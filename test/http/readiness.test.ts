/** /readyz when the input is held because its rejects cannot be dead-lettered (docs/dead-letters.md), and a member not ready yet. */
import { afterEach, describe, expect, it } from 'vitest';
import type { ServiceView } from '../../src/service/types.ts';
import { appFor, getJson } from './helpers.ts';

/** A service that is connected and has clustered: ready unless its input is held. */
function connectedView(held: string | null): ServiceView {
  return {
    latestRun: () => null,
    runInProgress: () => null,
    vm: () => null,
    tenant: () => null,
    requestRecluster: () => ({ runId: 'run-000001', started: false }),
    ingestStats: () => ({ messages: 0, records: { flows: 0, vmAttributes: 0, tenantAttributes: 0 }, rejected: { count: 0, by_reason: {} }, watermark: null, vmsTracked: 0, tenantsTracked: 0 }),
    inputsReady: () => true,
    inputsHeld: () => held,
    firstRunCompleted: () => true,
    runHistory: () => [],
  };
}

const apps: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

describe('/readyz with the input held', () => {
  it('is 503 with dead_letters and the reason while held, 200 once not', async () => {
    const reason = 'rejects cannot be written to flows.rejected since 2026-12-05T02:00:00.000Z: TOPIC_AUTHORIZATION_FAILED (...)';
    const held = appFor(connectedView(reason)).app;
    const free = appFor(connectedView(null)).app;
    apps.push(held, free);
    expect(await getJson(held, '/readyz')).toEqual({ status: 503, body: { status: 'not_ready', missing: ['dead_letters'], reasons: [reason] } });
    expect(await getJson(free, '/readyz')).toEqual({ status: 200, body: { status: 'ready', missing: [], reasons: [] } });
  });
});

describe('/readyz of a scale-out member not ready yet', () => {
  it('names what the member is still doing under inputs, not dead_letters', async () => {
    // A member's view said why through inputsHeld, and /readyz reported its dead letters held while it read a table.
    const reason = 'reading the tenant table (app-tenants)';
    const member = appFor({ ...connectedView(null), inputsReady: () => false, inputsHeld: undefined, inputsNotReady: () => reason }).app;
    const ready = appFor({ ...connectedView(null), inputsNotReady: () => null }).app;
    apps.push(member, ready);
    expect(await getJson(member, '/readyz')).toEqual({ status: 503, body: { status: 'not_ready', missing: ['inputs'], reasons: [`the inputs are not ready: ${reason}`] } });
    expect(await getJson(ready, '/readyz')).toEqual({ status: 200, body: { status: 'ready', missing: [], reasons: [] } });
  });
});
