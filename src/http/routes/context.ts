/** What every route group is registered with, and the lookups they share. */
import type { ServiceView } from '../../service/types.ts';
import { noRun } from '../errors.ts';
import { type RunIndex, runIndex } from '../run-index.ts';
import { ErrorBody } from '../schemas.ts';

export interface RouteOptions {
  view: ServiceView;
}

/** The latest run's index, or the contract's 503 before the first run. */
export function requireRun(view: ServiceView): RunIndex {
  const run = view.latestRun();
  if (run === null) throw noRun();
  return runIndex(run);
}

export function latestIndex(view: ServiceView): RunIndex | null {
  const run = view.latestRun();
  return run === null ? null : runIndex(run);
}

/** Error responses for the OpenAPI document (the error handler produces them). */
export const errors = {
  400: ErrorBody.describe('A parameter is invalid (bad_request, bad_cursor)'),
  404: ErrorBody.describe('Unknown id'),
  500: ErrorBody.describe('Internal error; details are logged, not returned'),
  503: ErrorBody.describe('No clustering run yet (no_run)'),
} as const;
