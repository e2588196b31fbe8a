/** The worker count: the command line's wins, else two on an idle two-core machine and one on a busy one. */
import { describe, expect, it } from 'vitest';
import { askedWorkers, workerCount } from './workers.ts';

describe('workerCount', () => {
  it('falls back to one worker at a load of twice the cores, and keeps a core free on larger machines', () => {
    expect([workerCount([], 0.5, 2), workerCount([], 3.9, 2), workerCount([], 4, 2), workerCount([], 1, 8)]).toEqual([2, 2, 1, 7]);
  });

  it('takes --maxWorkers from the command line over the load, in each of its spellings', () => {
    expect(workerCount(['node', 'vitest', 'run', '--maxWorkers=2', 'test/e2e'], 30, 2)).toBe(2);
    expect(workerCount(['node', 'vitest', 'run', '--maxWorkers', '3'], 30, 2)).toBe(3);
    expect(askedWorkers(['--max-workers=1'])).toBe(1);
    expect(askedWorkers(['--maxWorkers=50%', 'run'])).toBeUndefined();
    expect(askedWorkers(['run', 'test/cli'])).toBeUndefined();
  });
});
