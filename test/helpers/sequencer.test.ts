/** The long files the sequencer starts first exist: a renamed one would silently fall back to the end. */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LONG_FILES } from './sequencer.ts';

describe('LONG_FILES', () => {
  it('names test files that exist, each once', () => {
    expect(LONG_FILES.filter((path) => !existsSync(path))).toEqual([]);
    expect(new Set(LONG_FILES).size).toBe(LONG_FILES.length);
  });
});
