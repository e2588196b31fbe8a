/** What every route group is registered with, and the lookups they share. */
import type { ClusteringRun } from '../../runs/clustering-run.ts';
import type { ServiceView } from '../../service/types.ts';
import type { AccessScope } from '../../access/scope.ts';
import { scopeIndex } from '../auth/scoped-index.ts';
import { noRun } from '../errors.ts';
import { type RunIndex, runIndex } from '../run-index.ts';
import { ErrorBody } from '../schemas.ts';

export interface RouteOptions {
  view: ServiceView;
}

/** Route config of the routes that apply `request.scope` to what they return (auth/access-control.ts). */
export const scoped = { access: 'scoped' } as const;
/** Route config of the routes only an admin key may call. */
export const adminOnly = { access: 'admin' } as const;

/** The latest run's index as `scope` sees it, or the contract's 503 before the first run. */
export function requireRun(view: ServiceView, scope: AccessScope): RunIndex {
  return requireRunAndIndex(view, scope).index;
}

/** The latest run with its scoped index, for routes that read the run's arrays by the index's rows. */
export function requireRunAndIndex(view: ServiceView, scope: AccessScope): { run: ClusteringRun; index: RunIndex } {
  const run = view.latestRun();
  if (run === null) throw noRun();
  return { run, index: scopeIndex(runIndex(run), scope) };
}

export function latestIndex(view: ServiceView, scope: AccessScope): RunIndex | null {
  const run = view.latestRun();
  return run === null ? null : scopeIndex(runIndex(run), scope);
}

/**
 * Error responses for the OpenAPI document (the error handler produces them). A route lists those its own
 * parameters and lookups can cause; 401, 403, 414, 429 and 500 come from the edge and are added by docs.ts
 * according to the route's access and the configuration, so that the document says what this instance does.
 */
export const errors = {
  400: ErrorBody.describe('A parameter is invalid (bad_request, bad_cursor)'),
  404: ErrorBody.describe('Unknown id'),
  500: ErrorBody.describe('Internal error; details are logged, not returned'),
  503: ErrorBody.describe('No clustering run yet (no_run)'),
} as const;
