/**
 * Tenant attributes refused at MAX_TENANTS in a scale-out application: the router that read the record
 * refuses it (the member's tenant table tells it what the application tracks), so it is counted once by
 * reason and dead-lettered once with its source, as one process does.
 */
import { describe, expect, it } from 'vitest';
import type { DeadLetterValue } from '../../src/kafka/dead-letter.ts';
import { Pipeline, type PipelineConfig } from '../../src/pipeline/pipeline.ts';
import { createTopics, readTopicValues, testKafkaClient } from '../helpers/kafka.ts';
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

  it('from a tenants topic of two partitions: each router judges against the table, so records read one after another are admitted as one process admits them, also by a member that takes the partitions over', async () => {
    const app = await file.app('tenantcap2p', 2);
    const tenantsTopic = `${app.topics.tenant}.two`;
    await createTopics(file.brokers, [tenantsTopic], 2);
    const pipeline: PipelineConfig = { ...app.pipeline, topics: { ...app.pipeline.topics, tenantAttributes: tenantsTopic }, window: { ...app.pipeline.window, maxTenants: 2 } };
    const T = Date.UTC(2026, 10, 1);
    const tenant = (ts: number, id: string) => JSON.stringify({ ts, tenant_id: id, name: id });
    // Partition by partition: t-1 and t-3 in 0; t-2, t-1's update and t-4 in 1. Each router sees only its own.
    const values: Array<[number, string]> = [[0, tenant(T, 't-1')], [1, tenant(T, 't-2')], [0, tenant(T, 't-3')], [1, tenant(T + 1000, 't-1')], [1, tenant(T + 2000, 't-4')]];
    const single = new Pipeline(pipeline);
    for (const [i, [, v]] of values.entries()) single.ingestMessage(tenantsTopic, v, `m${i}`);
    expect(single.rejections.summary()).toEqual({ count: 2, by_reason: { tenant_cap: 2 } });

    const producer = testKafkaClient(file.brokers, 'tenantcap2p-producer').producer();
    await producer.connect();
    const sendAt = (partition: number, value: string) => producer.send({ topic: tenantsTopic, messages: [{ partition, value }] });
    try {
      const a = await file.member(app.topology, pipeline);
      // One record at a time, each routed and read back into the table before the next: no race between the routers.
      for (const [i, [partition, value]] of values.entries()) {
        await sendAt(partition, value);
        await waitFor(async () => (a.member.status().records.tenantAttributes === i + 1 ? true : undefined), 60_000, `tenant record ${i} routed`);
        const id = (JSON.parse(value) as { tenant_id: string }).tenant_id;
        if (single.fleet.tenants.has(id)) await waitFor(async () => (a.member.tenant(id) !== null ? true : undefined), 30_000, `${id} in the table`);
      }
      expect(a.member.status().rejected).toEqual(single.rejections.summary());
      expect(['t-1', 't-2', 't-3', 't-4'].map((id) => a.member.tenant(id) !== null)).toEqual([true, true, false, false]);
      const letters = (await readTopicValues(file.brokers, `${tenantsTopic}.rejected`, 2, 30_000)).map((v) => JSON.parse(v) as DeadLetterValue);
      expect(letters.map((l) => [l.source, JSON.parse(l.raw).tenant_id]).sort()).toEqual([
        [`${tenantsTopic}/0@1`, 't-3'],
        [`${tenantsTopic}/1@2`, 't-4'],
      ]);
      await waitFor(async () => (a.member.notReadyReason() === null ? true : undefined), 60_000, 'the member ready');
      await a.stop();

      // Another member takes both partitions over: it reads back what a admitted before judging t-5.
      const b = await file.member(app.topology, pipeline);
      await sendAt(0, tenant(T + 3000, 't-5'));
      await waitFor(async () => (b.member.status().records.tenantAttributes === values.length + 1 ? true : undefined), 60_000, 'tenant record t-5 routed');
      expect(b.member.status().rejected).toEqual({ count: 3, by_reason: { tenant_cap: 3 } });
      expect(b.member.tenant('t-5')).toBe(null);
      await waitFor(async () => (b.member.notReadyReason() === null ? true : undefined), 60_000, 'the member ready');
    } finally {
      await producer.disconnect();
    }
  }, 180_000);
});
