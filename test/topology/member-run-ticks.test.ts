/**
 * Issue 12: one member reading a backlog runs the ticks one process runs over it. One process starts a run
 * at the first tick due and, reading the small fixture whole while that run is in flight, runs once more at
 * the end (ClusterService.catchUp): 00:05 and 00:45. The member's leader ran the tick its windows had reached
 * when its first run was published as well (00:15 or 00:20: no partition had announced a newer tick yet),
 * one run more; it now waits while the input or its windows are behind (backlog.ts, run-choice.ts).
 */
import { describe, expect, it } from 'vitest';
import { PipelineOptions, toRunOptions } from '../../src/config/pipeline-options.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { ClusterService } from '../../src/service/cluster-service.ts';
import { InlineClusterer } from '../../src/service/clusterer.ts';
import { traceMessages } from '../../src/trace/trace-messages.ts';
import { memberTestFile } from '../helpers/scale-out.ts';
import { waitFor } from '../helpers/service-process.ts';

const file = memberTestFile();

/** Long enough for the member in the test process to read the whole backlog at any load: the test is about which ticks, not how soon. */
const CATCH_UP_MS = 180_000;

const iso = (ms: number): string => new Date(ms).toISOString();

describe('one member over a backlog', () => {
  it('runs the ticks one process runs over the same trace', async ({ onTestFailed }) => {
    const app = await file.app('runticks', 3);
    const every = app.pipeline.reclusterEveryMs;
    const messages = (await traceMessages('fixtures/small.jsonl.gz')).flatMap(([topic, value]) => {
      const to = app.topicOf[topic];
      return to === undefined ? [] : [{ topic: to, value }];
    });

    // One process reading the whole backlog during its first run (the inline clusterer's run completes
    // only once the loop yields): its runs' ticks.
    const single = new ClusterService(new Pipeline(app.pipeline), new InlineClusterer(), toRunOptions(PipelineOptions.parse({})), Date.now);
    const singleTicks: string[] = [];
    single.on('run', (run) => singleTicks.push(iso(Math.floor(run.computedAt / every) * every)));
    for (const [i, m] of messages.entries()) single.ingestMessage(m.topic, m.value, `trace:${i}`);
    await single.whenIdle();
    await single.close();
    expect(singleTicks).toEqual(['2026-11-01T00:05:00.000Z', '2026-11-01T00:45:00.000Z']);

    // The same messages in the input topics before the member starts: a backlog.
    await app.send(messages);
    const member = await file.member(app.topology, app.pipeline, { runCatchUpMs: CATCH_UP_MS });
    onTestFailed(() => console.log(`member log, last lines:\n${member.logs.slice(-40).join('\n')}`));
    const published = () =>
      member.logs.filter((l) => l.includes('published the run')).map((l) => JSON.parse(l.slice(l.indexOf('{'))) as { run_id: string; tick: number | null; request: string | null });
    const last = Date.parse(singleTicks.at(-1)!);
    await waitFor(async () => (published().some((r) => r.tick === last) ? true : undefined), CATCH_UP_MS, `the member's run at ${singleTicks.at(-1)}`);
    // Nothing after it: every tick of the trace is passed.
    await new Promise((r) => setTimeout(r, 3000));
    expect(published().map((r) => (r.tick === null ? `request ${r.request}` : iso(r.tick)))).toEqual(singleTicks);
    expect(published().map((r) => r.run_id)).toEqual(['run-000001', 'run-000002']);
  }, 300_000);
});
