/**
 * Keyset paging over id-sorted lists. The cursor is the last id of a page (base64url, so that clients
 * treat it as opaque): a page then starts after that id even if the list changed between requests (a new
 * run), which offset paging cannot promise.
 */
import { ApiError } from './errors.ts';

export interface Page {
  ids: string[];
  nextCursor: string | null;
}

/** Ordering by UTF-16 code units, as the fleet sorts its ids; binary search relies on the same order. */
export const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function encodeCursor(lastId: string): string {
  return Buffer.from(lastId, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  // Node's decoder skips characters outside the alphabet; re-encoding exposes anything we did not issue.
  if (id.length === 0 || encodeCursor(id) !== cursor) throw new ApiError(400, 'bad_cursor', 'cursor: not a cursor this API issued');
  return id;
}

/** Index of the first id strictly greater than `after` in a sorted list. */
function firstAfter(sorted: readonly string[], after: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function page(sorted: readonly string[], limit: number, cursor: string | undefined): Page {
  const start = cursor === undefined ? 0 : firstAfter(sorted, decodeCursor(cursor));
  const ids = sorted.slice(start, start + limit);
  const more = start + limit < sorted.length;
  return { ids, nextCursor: more && ids.length > 0 ? encodeCursor(ids[ids.length - 1]!) : null };
}
