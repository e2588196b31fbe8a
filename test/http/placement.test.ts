/**
 * GET /v1/placement over the replayed small fixture: an admin key sees the fleet's advice (the replay
 * result's `placement`), a tenant key only moves of its own VMs, and a run without advice is a 404.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildResult } from '../../src/runs/result.ts';
import type { ServiceView } from '../../src/service/types.ts';
import { appFor, replaySmall } from './helpers.ts';
import { ADMIN_KEY, bearer, keysFor, largestTenants, securedApp, TENANT_A_KEY } from './auth/setup.ts';

interface Move {
  step: number;
  vm_ids: string[];
  from_host: string;
  to_host: string;
  bytes_per_minute_saved: number;
}
interface Advice {
  run_id: string;
  moves: Move[];
  migrations: number;
  cross_host_bytes_per_minute: { before: number; after: number };
  blocked: Array<{ vm_ids: string[] }>;
  hosts: Array<{ host_id: string }>;
}

let view: ServiceView;
let app: FastifyInstance;
let tenantA: string;

beforeAll(async () => {
  ({ view } = await replaySmall());
  const tenants = largestTenants(view);
  tenantA = tenants.a;
  app = securedApp(view, { keys: await keysFor(tenants) });
  await app.ready();
});

afterAll(async () => {
  await app.close();
});

describe('GET /v1/placement', () => {
  it("serves the fleet's advice to an admin: the replay result's placement, moves that save traffic", async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/placement', headers: bearer(ADMIN_KEY) });
    expect(res.statusCode).toBe(200);
    const body = res.json<Advice>();
    const run = view.latestRun()!;
    const { run_id, ...advice } = body as Advice & { computed_at: unknown };
    expect(run_id).toBe(run.runId);
    const { computed_at: _, ...rest } = advice as Record<string, unknown>;
    expect(rest).toEqual(buildResult(run, { count: 0, by_reason: {} }, {}).placement);
    expect(body.migrations).toBe(20);
    expect(body.moves.every((m) => m.from_host !== m.to_host)).toBe(true);
    // Each step saves (a pair brought onto a third host is two moves of one step; the first may save nothing).
    const bySteps = new Map<number, number>();
    for (const m of body.moves) bySteps.set(m.step, (bySteps.get(m.step) ?? 0) + m.bytes_per_minute_saved);
    expect([...bySteps.values()].every((saved) => saved > 0)).toBe(true);
    expect(body.cross_host_bytes_per_minute.after).toBeLessThan(body.cross_host_bytes_per_minute.before);
  });

  it("gives a tenant key only its own VMs' moves, each as the fleet's advice has it", async () => {
    const fleet = (await app.inject({ method: 'GET', url: '/v1/placement', headers: bearer(ADMIN_KEY) })).json<Advice>();
    const res = await app.inject({ method: 'GET', url: '/v1/placement', headers: bearer(TENANT_A_KEY) });
    expect(res.statusCode).toBe(200);
    const mine = res.json<Advice>();
    const run = view.latestRun()!;
    const tenantOf = new Map(run.vms.ids.map((id, i) => [id, run.vmTenants[i]]));
    const ownedIds = [...mine.moves.flatMap((m) => m.vm_ids), ...mine.blocked.flatMap((b) => b.vm_ids)];
    expect(ownedIds.every((id) => tenantOf.get(id) === tenantA)).toBe(true);
    const fleetMoves = fleet.moves.flatMap((m) => m.vm_ids.filter((id) => tenantOf.get(id) === tenantA).map((id) => `${id} ${m.from_host}>${m.to_host}`));
    expect(mine.moves.flatMap((m) => m.vm_ids.map((id) => `${id} ${m.from_host}>${m.to_host}`))).toEqual(fleetMoves);
    expect(mine.hosts.length).toBeLessThan(fleet.hosts.length);
    expect(mine.cross_host_bytes_per_minute.before).toBeLessThan(fleet.cross_host_bytes_per_minute.before);
  });

  it('is 404 no_placement for a run without advice, 503 before any run', async () => {
    const run = view.latestRun()!;
    const { placement: _, ...bare } = run;
    const without = appFor({ ...view, latestRun: () => bare }).app;
    const res = await without.inject({ method: 'GET', url: '/v1/placement' });
    expect([res.statusCode, res.json().error]).toEqual([404, 'no_placement']);
    const none = appFor({ ...view, latestRun: () => null }).app;
    expect((await none.inject({ method: 'GET', url: '/v1/placement' })).statusCode).toBe(503);
    await without.close();
    await none.close();
  });
});
