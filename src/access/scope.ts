/**
 * Who a request speaks for. An admin key sees the whole fleet; a tenant key sees its own VMs, its tenant
 * record, and clusters, groups and run changes reduced to those. With no keys configured every request is
 * admin (the open API of a newcomer's `npm start`).
 */
export type AccessScope = { kind: 'admin' } | { kind: 'tenant'; tenantId: string };

export const ADMIN: AccessScope = { kind: 'admin' };

/** How a route may be reached: without a key, with any valid key (the route applies the scope), admin only. */
export type RouteAccess = 'open' | 'scoped' | 'admin';

/** Parses `admin` or `tenant:<tenant_id>`; null when it is neither. */
export function parseScope(text: string): AccessScope | null {
  if (text === 'admin') return ADMIN;
  if (text.startsWith('tenant:')) {
    const tenantId = text.slice('tenant:'.length);
    // Tenant ids are 1..128 characters on the wire (CONTRACT.md); a longer one could never match.
    if (tenantId.length >= 1 && tenantId.length <= 128) return { kind: 'tenant', tenantId };
  }
  return null;
}

/** Whether a record owned by `tenantId` (null: not known yet) is visible in `scope`. */
export function sees(scope: AccessScope, tenantId: string | null | undefined): boolean {
  return scope.kind === 'admin' || (tenantId !== null && tenantId !== undefined && tenantId === scope.tenantId);
}
