/** The split between isolated and shared test files: what must never share a worker does not. */
import { describe, expect, it } from 'vitest';
import { ISOLATING_MARKERS, splitTestFiles } from './isolation.ts';

describe('splitTestFiles', () => {
  const { isolated, shared } = splitTestFiles(process.cwd());

  it('isolates the end-to-end files, the files with a broker or processes, and those that change process-wide state', () => {
    for (const path of [
      'test/e2e/soak.test.ts',
      'test/kafka/produce.test.ts',
      'test/cli/help.test.ts',
      'test/http/ui/dashboard.test.ts',
      'test/config/env-file.test.ts',
      'test/cli/progress.test.ts',
      'test/model-store/durable-writes.test.ts',
    ]) {
      expect(isolated).toContain(path);
    }
  });

  it('shares the pure files, each file in exactly one of the two', () => {
    for (const path of ['test/clustering/kmeans.test.ts', 'test/windows/pair-traffic.test.ts', 'test/runs/insights.test.ts']) {
      expect(shared).toContain(path);
    }
    expect(isolated.filter((path) => shared.includes(path))).toEqual([]);
  });

  it('matches the markers that leak into the next file in the same process', () => {
    expect(ISOLATING_MARKERS.test("vi.stubEnv('PORT', '1')")).toBe(true);
    expect(ISOLATING_MARKERS.test('process.env.PORT = "1"')).toBe(true);
    expect(ISOLATING_MARKERS.test("import { spawn } from 'node:child_process'")).toBe(true);
    expect(ISOLATING_MARKERS.test('process.env.PORT === "1"')).toBe(false);
    expect(ISOLATING_MARKERS.test('const { a } = kmeans(points, 3, { seed: 1 })')).toBe(false);
  });
});
