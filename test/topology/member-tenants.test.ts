/**
 * Tenant attributes refused at MAX_TENANTS in a scale-out application: the router that read the record
 * refuses it (the member's tenant table tells it what the application tracks), so it is counted once by
 * reason and dead-lettered once with its source, as one process does.
 */
import { describe, expect, it } from 'vitest';
import type { DeadLetterValue } from '../../src/kafka/dead-letter.ts';
import { Pipeline, type PipelineConfig } from '../../src/pipeline/pipeline.ts';
import { readTopicValues } from '../helpers/kafka.ts';
import { memberTestFile } from '../helpers/scale-out.ts';
import { waitFor } from '../helpers/service-process.ts';

const file = memberTestFile();

describe('tenant attributes at MAX_TENANTS on a member', () => {
  it('are refused once by the router that read them, counted as tenant_cap and dead-lettered with their source', async () => {
    const app = await file.app('tenantcap', 2);
    const { topics, topology, send } = app;
    const pipeline: PipelineConfig = { ...app.pipeline, window: { ...app.pipeline.window, maxTenants: 2 } };
    const T = Date.UTC(2026, 10, 1);
    const tenant = (ts: number, id: string) => JSON.stringify({ ts, tenant_id: id, name: id });
    // t-3 finds two tenants tracked; t-1 again is an update of a tracked tenant; t-4 is refused too.
    const values = [tenant(T, 't-1'), tenant(T, 't-2'), tenant(T, 't-3'), tenant(T + 1000, 't-1'), tenant(T + 2000, 't-4')];
    const single = new Pipeline(pipeline);
    for (const [i, v] of values.entries()) single.ingestMessage(topics.tenant, v, `m${i}`);
    expect(single.rejections.summary()).toEqual({ count: 2, by_reason: { tenant_cap: 2 } });

    const a = await file.member(topology, pipeline);
    // One message at a time: the cap is judged in the order the records were read.
    for (const value of values) await send([{ topic: topics.tenant, value }]);
    await waitFor(async () => (a.member.status().records.tenantAttributes === values.length ? true : undefined), 60_000, 'the tenant attributes routed');
    expect(a.member.status().rejected).toEqual(single.rejections.summary());
    await waitFor(async () => (a.member.tenant('t-1')?.ts === T + 1000 ? true : undefined), 30_000, 'the tenant table read');
    expect(['t-1', 't-2', 't-3', 't-4'].map((id) => a.member.tenant(id) !== null)).toEqual([true, true, false, false]);

    // Each refused record once in the tenants' dead-letter topic, with the input offset it was read at.
    const letters = (await readTopicValues(file.brokers, `${topics.tenant}.rejected`, 2, 30_000)).map((v) => JSON.parse(v) as DeadLetterValue);
    expect(letters.map((l) => [l.reason, l.source, JSON.parse(l.raw).tenant_id])).toEqual([
      ['tenant_cap', `${topics.tenant}/0@2`, 't-3'],
      ['tenant_cap', `${topics.tenant}/0@4`, 't-4'],
    ]);
    // Stopped once its partitions are restored: a restore cut short by the stop is not what this tests.
    await waitFor(async () => (a.member.notReadyReason() === null ? true : undefined), 60_000, 'the member ready');
  }, 120_000);
});
