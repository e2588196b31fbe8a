/** GET /v1/security-groups: the admin sees every tenant, a tenant key only its own, in the OpenStack shape. */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SecurityGroupsDocument } from '../../src/security-groups/types.ts';
import type { ServiceView } from '../../src/service/types.ts';
import { replaySmall } from './helpers.ts';
import { ADMIN_KEY, bearer, fleetOwners, foreignIds, keysFor, largestTenants, securedApp, TENANT_A_KEY, type Tenants } from './auth/setup.ts';

let view: ServiceView;
let tenants: Tenants;
let app: FastifyInstance;

beforeAll(async () => {
  ({ view } = await replaySmall());
  tenants = largestTenants(view);
  app = securedApp(view, { keys: await keysFor(tenants) });
  await app.ready();
});

afterAll(async () => {
  await app.close();
});

type Served = Omit<SecurityGroupsDocument, 'summary'> & { summary: SecurityGroupsDocument['summary'] | null };

async function get(url: string, key: string): Promise<{ status: number; body: Served }> {
  const res = await app.inject({ method: 'GET', url, headers: bearer(key) });
  return { status: res.statusCode, body: res.json<Served>() };
}

describe('GET /v1/security-groups', () => {
  it('gives the admin every tenant with its groups, rules and check, and the fleet summary', async () => {
    const { status, body } = await get('/v1/security-groups', ADMIN_KEY);
    expect(status).toBe(200);
    const doc = (await view.securityGroups!())!;
    expect(body.tenants.length).toBe(doc.tenants.length);
    expect(body.summary?.rules).toBe(doc.summary.rules);
    expect(body.summary!.rules).toBeGreaterThan(0);
    const rule = body.tenants.flatMap((t) => t.security_groups.flatMap((g) => g.security_group_rules))[0]!;
    expect(Object.keys(rule).sort()).toEqual(
      [
        'basis',
        'direction',
        'ethertype',
        'id',
        'learned_from',
        'port_range_max',
        'port_range_min',
        'project_id',
        'protocol',
        'remote_basis',
        'remote_group_id',
        'remote_ip_prefix',
        'security_group_id',
        'tenant_id',
      ].sort(),
    );
  });

  it('gives a tenant key its own tenant only, with nothing of another tenant in it, whatever it filters by', async () => {
    const own = await get('/v1/security-groups', TENANT_A_KEY);
    expect(own.status).toBe(200);
    expect(own.body.tenants.map((t) => t.tenant_id)).toEqual([tenants.a]);
    expect(own.body.summary).toBeNull();
    expect(own.body.vms_without_tenant).toEqual([]);
    expect(foreignIds(own.body, tenants.a, fleetOwners(view))).toEqual([]);
    const other = await get(`/v1/security-groups?tenant_id=${encodeURIComponent(tenants.b)}`, TENANT_A_KEY);
    expect(other.status).toBe(200);
    expect(other.body.tenants).toEqual([]);
  });

  it('lets the admin filter by tenant_id or its alias project_id', async () => {
    const byTenant = await get(`/v1/security-groups?tenant_id=${encodeURIComponent(tenants.b)}`, ADMIN_KEY);
    const byProject = await get(`/v1/security-groups?project_id=${encodeURIComponent(tenants.b)}`, ADMIN_KEY);
    expect(byTenant.body.tenants.map((t) => t.tenant_id)).toEqual([tenants.b]);
    expect(byProject.body).toEqual(byTenant.body);
  });
});
