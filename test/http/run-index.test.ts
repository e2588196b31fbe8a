import { describe, expect, it } from 'vitest';
import { runToEnd } from '../../src/core/slices.ts';
import { prepareRunIndex, runIndex, runIndexSteps } from '../../src/http/run-index.ts';
import { buildResult } from '../../src/runs/result.ts';
import { fixtureReplay } from '../helpers/fixture-replay.ts';

describe("the API's index of a run, built before the run is served", () => {
  it('comes in five steps (the assignments, each side, the tenants, the rows), equals the index built at once, and is kept for the requests', async () => {
    const { lastRun } = await fixtureReplay('small');
    const run = lastRun!;
    const steps = runIndexSteps(run);
    let count = 0;
    let r = steps.next();
    for (; r.done !== true; r = steps.next()) count++;
    expect(count).toBe(5);
    const stepped = r.value;
    // The assignments and summaries are the result file's (without its anomalies, groups and placement).
    const result = buildResult(run, { count: 0, by_reason: {} }, {});
    expect(stepped.vms.assignments).toEqual(result.vm_clusters);
    expect(stepped.tenants.assignments).toEqual(result.tenant_clusters);
    expect(stepped.computedAt).toBe(result.run!.computed_at);
    expect(stepped.vmRow.size).toBe(run.vms.ids.length);
    // A copy of the run (as a member reads it from the topic) is indexed apart, and then served from the cache.
    const copy = structuredClone(run);
    await prepareRunIndex(copy);
    const prepared = runIndex(copy);
    expect(runIndex(copy)).toBe(prepared);
    expect(prepared).toEqual(runToEnd(runIndexSteps(run)));
  });
});
