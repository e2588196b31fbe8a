/**
 * Keyset paging over id-sorted lists. The cursor is the last id of a page (base64url, so that clients
 * treat it as opaque): a page then starts after that id even if the list changed between requests (a new
 * run), which offset paging cannot promise.
 *
 * Any cursor in the canonical form is a position, issued by us or not: the page starts after the string it
 * decodes to. So the OpenAPI document can say exactly which cursors are accepted (CURSOR_PATTERN), and a
 * request the document calls valid is never refused.
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

/**
 * Unpadded base64url of at least one byte, in the one form the encoder writes: the bits past the last byte
 * are zero (a final pair ends in A, Q, g or w, a final triple in a multiple of 4). Node's decoder would
 * otherwise skip stray characters and ignore those bits, and many strings would name one position.
 */
export const CURSOR_PATTERN = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{4}|[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])$/;

export function decodeCursor(cursor: string): string {
  if (!CURSOR_PATTERN.test(cursor)) throw new ApiError(400, 'bad_cursor', 'cursor: not a cursor this API issued');
  // Bytes that are not UTF-8 decode to U+FFFD: still a position, though never one we issued.
  return Buffer.from(cursor, 'base64url').toString('utf8');
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
