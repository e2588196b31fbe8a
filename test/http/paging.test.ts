import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/http/errors.ts';
import { decodeCursor, encodeCursor, page } from '../../src/http/paging.ts';

describe('keyset paging', () => {
  const ids = ['a', 'b', 'b-1', 'c', 'é', '中', '😀'];

  it('round-trips any id through the cursor', () => {
    for (const id of [...ids, 'x'.repeat(128), 'a/b?c=d&e']) expect(decodeCursor(encodeCursor(id))).toBe(id);
  });

  it('walks the list in pages, each starting after the previous page\'s last id', () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const p = page(ids, 3, cursor);
      seen.push(...p.ids);
      if (p.nextCursor === null) break;
      cursor = p.nextCursor;
    }
    expect(seen).toEqual(ids);
  });

  it('continues after an id that has left the list', () => {
    expect(page(['a', 'c', 'd'], 10, encodeCursor('b')).ids).toEqual(['c', 'd']);
    expect(page(['a', 'c'], 10, encodeCursor('z'))).toEqual({ ids: [], nextCursor: null });
  });

  it('has no next cursor when the page ends the list exactly', () => {
    expect(page(['a', 'b'], 2, undefined)).toEqual({ ids: ['a', 'b'], nextCursor: null });
  });

  it('rejects cursors it did not issue', () => {
    for (const bad of ['', '!!!', 'YQ==', 'Y', 'a b']) {
      expect(() => decodeCursor(bad), bad).toThrow(ApiError);
    }
  });
});
