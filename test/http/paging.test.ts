import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/http/errors.ts';
import { CURSOR_PATTERN, decodeCursor, encodeCursor, page } from '../../src/http/paging.ts';

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

  it('rejects cursors that are not canonical unpadded base64url', () => {
    // 'YR' and 'YWJ' decode to 'a' and 'ab' too, but with bits past the last byte set: not the encoder's form.
    for (const bad of ['', '!!!', 'YQ==', 'Y', 'a b', 'YR', 'YWJ', 'YWJjZ']) {
      expect(() => decodeCursor(bad), bad).toThrow(ApiError);
      expect(CURSOR_PATTERN.test(bad), bad).toBe(false);
    }
  });

  it('takes any cursor of the documented pattern as a position, even one it never issued', () => {
    expect(decodeCursor('YQ')).toBe('a');
    expect(decodeCursor('YWI')).toBe('ab');
    // 0xFF is no UTF-8: it reads as U+FFFD, a position after every id below it.
    expect(decodeCursor('_w')).toBe('\uFFFD');
    expect(page(['a', 'z', '\uFFFF'], 10, '_w').ids).toEqual(['\uFFFF']);
    for (const id of [...ids, 'x'.repeat(128)]) expect(CURSOR_PATTERN.test(encodeCursor(id)), id).toBe(true);
  });
});
