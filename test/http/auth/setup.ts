/**
 * The fixture-fed service of ../helpers.ts behind API keys: one admin key, two tenant keys (the fixture's
 * two largest tenants, one of them stored as a scrypt hash), and the helpers the security tests share:
 * every id in the fleet with its owner, and a walk over JSON that finds another tenant's ids.
 */
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { buildApp } from '../../../src/http/app.ts';
import type { SecurityOptions } from '../../../src/http/auth/access-control.ts';
import { type ApiKey, hashKey, parseKeyHash } from '../../../src/access/api-keys.ts';
import { ServiceMetrics } from '../../../src/observability/service-metrics.ts';
import { runIndex } from '../../../src/http/run-index.ts';
import type { ServiceView } from '../../../src/service/types.ts';

export const ADMIN_KEY = 'admin-key-0123456789abcdef0123456789abcdef';
export const TENANT_A_KEY = 'tenant-a-key-0123456789abcdef0123456789ab';
export const TENANT_B_KEY = 'tenant-b-key-0123456789abcdef0123456789ab';

export const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

export interface Tenants {
  a: string;
  b: string;
}

/** The two tenants with the most VMs in the run (ties by id), so both have several clusters and pages. */
export function largestTenants(view: ServiceView): Tenants {
  const index = runIndex(view.latestRun()!);
  const ranked = [...index.vmsOfTenant].sort((x, y) => y[1].length - x[1].length || (x[0] < y[0] ? -1 : 1));
  return { a: ranked[0]![0], b: ranked[1]![0] };
}

async function key(id: string, secret: string, kind: 'sha256' | 'scrypt', scope: ApiKey['scope']): Promise<ApiKey> {
  const hash = parseKeyHash(await hashKey(secret, kind));
  if (typeof hash === 'string') throw new Error(hash);
  return { id, hash, scope };
}

export async function keysFor(tenants: Tenants): Promise<ApiKey[]> {
  return [
    await key('admin', ADMIN_KEY, 'sha256', { kind: 'admin' }),
    await key('tenant-a', TENANT_A_KEY, 'sha256', { kind: 'tenant', tenantId: tenants.a }),
    await key('tenant-b', TENANT_B_KEY, 'scrypt', { kind: 'tenant', tenantId: tenants.b }),
  ];
}

export function securedApp(view: ServiceView, security: SecurityOptions): FastifyInstance {
  return buildApp(view, { metrics: new ServiceMetrics(new Registry()), security });
}

/** Every VM and tenant id the service could name, with the tenant that owns it (null: nobody). */
export function fleetOwners(view: ServiceView): Map<string, string | null> {
  const run = view.latestRun()!;
  const owners = new Map<string, string | null>();
  run.vms.ids.forEach((id, i) => {
    owners.set(id, view.vm(id)?.tenantId ?? run.vmTenants[i] ?? null);
  });
  for (const record of view.runHistory()) {
    for (const m of record.changes.vms.moved) if (!owners.has(m.id)) owners.set(m.id, view.vm(m.id)?.tenantId ?? null);
    for (const m of record.changes.tenants.moved) owners.set(m.id, m.id);
  }
  for (const id of run.tenants.ids) owners.set(id, id);
  for (const t of run.vmTenants) if (t != null) owners.set(t, t);
  return owners;
}

/** Every string of a JSON document, object keys included. */
export function jsonStrings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) jsonStrings(v, out);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      jsonStrings(v, out);
    }
  }
  return out;
}

/** The ids in `body` that belong to someone other than `tenant` (or to nobody). */
export function foreignIds(body: unknown, tenant: string, owners: Map<string, string | null>): string[] {
  return jsonStrings(body).filter((s) => owners.has(s) && owners.get(s) !== tenant);
}
