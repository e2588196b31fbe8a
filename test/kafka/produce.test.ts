/**
 * produceTrace against a real broker: the small fixture into fresh topics, read back with a plain kafkajs
 * consumer, and compared message by message with the trace's lines (set SKIP_KAFKA_TESTS=1 to skip).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/config/package-root.ts';
import { deriveKey, eventTimeOf, produceTrace } from '../../src/kafka/produce-trace.ts';
import { defaultTopics } from '../../src/contract/topics.ts';
import { readTraceChunks } from '../../src/trace/trace-reader.ts';
import { createTopics, sharedTestKafka, testKafkaClient, uniqueGroup, uniqueTopic } from '../helpers/kafka.ts';
import { compiled } from '../helpers/build.ts';

const TRACE = join(PACKAGE_ROOT, 'fixtures', 'small.jsonl.gz');

interface Expected {
  topic: string;
  key: string | null;
  value: string;
}

/** What should land in Kafka, computed from the file independently of produceTrace's loop. */
async function expectedMessages(topicMap: Record<string, string>): Promise<{ messages: Expected[]; invalid: number; lines: number }> {
  const messages: Expected[] = [];
  let invalid = 0;
  let lines = 0;
  for await (const chunk of readTraceChunks(TRACE)) {
    for (const line of chunk.lines) {
      lines++;
      let obj: unknown;
      try {
        obj = JSON.parse(line ?? '');
      } catch {
        invalid++;
        continue;
      }
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
        invalid++;
        continue;
      }
      const { topic, value, key } = obj as { topic?: unknown; value?: unknown; key?: unknown };
      if (typeof topic !== 'string' || value === undefined) {
        invalid++;
        continue;
      }
      messages.push({
        topic: topicMap[topic] ?? topic,
        key: typeof key === 'string' ? key : deriveKey(topic, value),
        value: JSON.stringify(value),
      });
    }
  }
  return { messages, invalid, lines };
}

async function readBack(brokers: string, topics: string[], total: number): Promise<Expected[]> {
  const got: Expected[] = [];
  const consumer = testKafkaClient(brokers, 'produce-test-reader').consumer({ groupId: uniqueGroup('produce-test'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => {
    done = r;
  });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      got.push({ topic, key: message.key?.toString('utf8') ?? null, value: message.value?.toString('utf8') ?? '' });
      if (got.length >= total) done();
    },
  });
  const timeout = setTimeout(done, 40_000);
  await finished;
  clearTimeout(timeout);
  // Anything beyond the expected total would be a duplicate: give it a moment to show up.
  await new Promise((r) => setTimeout(r, 500));
  await consumer.disconnect();
  return got;
}

describe('produceTrace helpers', () => {
  it('derives the contract keys and event times', () => {
    expect(deriveKey('overlay-flows', { src_vm: 'a', dst_vm: 'b' })).toBe('a');
    expect(deriveKey('overlay-flows', [{ src_vm: null, dst_vm: 'b' }])).toBe('b');
    expect(deriveKey('vm-attributes', { device_id: 'v' })).toBe('v');
    expect(deriveKey('tenant-attributes', { project_id: 't' })).toBe('t');
    expect(deriveKey('other', { src_vm: 'a' })).toBeNull();
    expect(eventTimeOf([{ ts: 5 }, { ts: '1970-01-01T00:00:00.010Z' }, { ts: 'x' }])).toBe(10);
    expect(eventTimeOf('nope')).toBeNaN();
  });
});

describe.skipIf(process.env.SKIP_KAFKA_TESTS === '1')('produceTrace into a real broker', () => {
  let kafka: { brokers: string };

  beforeAll(async () => {
    kafka = await sharedTestKafka();
  }, 120_000);

  it('sends every valid line of small.jsonl.gz to its topic, values and keys intact', async () => {
    const topicMap: Record<string, string> = {
      [defaultTopics.flows]: uniqueTopic('flows'),
      [defaultTopics.vmAttributes]: uniqueTopic('vms'),
      [defaultTopics.tenantAttributes]: uniqueTopic('tenants'),
    };
    await createTopics(kafka.brokers, Object.values(topicMap));
    // The fixture's lines for other topics too get topics of this test's own: under their names from the
    // trace they would be shared with every other test that produces the fixture to the run's broker.
    for (const { topic } of (await expectedMessages({})).messages) topicMap[topic] ??= uniqueTopic('other');
    const expected = await expectedMessages(topicMap);
    expect(expected.lines).toBe(4323);

    const warnings: string[] = [];
    const progress: number[] = [];
    const result = await produceTrace(
      TRACE,
      { topicMap, batch: 200, onWarning: (m) => warnings.push(m), onProgress: (p) => progress.push(p.messages), progressIntervalMs: 0 },
      testKafkaClient(kafka.brokers, 'produce-test'),
    );
    expect(result.lines).toBe(4323);
    expect(result.messages).toBe(expected.messages.length);
    expect(result.invalid).toBe(expected.invalid);
    expect(result.invalid).toBeGreaterThan(0); // the fixture carries hostile lines on purpose
    expect(result.sentRaw).toBe(0);
    expect(warnings.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toBe(result.messages);

    const expectedByTopic: Record<string, number> = {};
    for (const m of expected.messages) expectedByTopic[m.topic] = (expectedByTopic[m.topic] ?? 0) + 1;
    expect(result.byTopic).toEqual(expectedByTopic);

    const got = await readBack(kafka.brokers, Object.keys(expectedByTopic), expected.messages.length);
    expect(got.length).toBe(expected.messages.length);
    // One partition per topic: per-topic order is the trace's order.
    for (const topic of Object.keys(expectedByTopic)) {
      const want = expected.messages.filter((m) => m.topic === topic);
      const have = got.filter((m) => m.topic === topic);
      expect(have.length, topic).toBe(want.length);
      expect(have).toEqual(want);
    }
  }, 80_000);

  it('sends invalid lines raw to the flows topic with rawInvalid', async () => {
    const topicMap = {
      [defaultTopics.flows]: uniqueTopic('flows-raw'),
      [defaultTopics.vmAttributes]: uniqueTopic('vms-raw'),
      [defaultTopics.tenantAttributes]: uniqueTopic('tenants-raw'),
    };
    await createTopics(kafka.brokers, Object.values(topicMap));
    const expected = await expectedMessages(topicMap);
    const result = await produceTrace(TRACE, { topicMap, rawInvalid: true, batch: 1000 }, testKafkaClient(kafka.brokers, 'produce-test-raw'));
    expect(result.sentRaw).toBe(expected.invalid);
    const flows = expected.messages.filter((m) => m.topic === topicMap[defaultTopics.flows]).length;
    expect(result.byTopic[topicMap[defaultTopics.flows]!]).toBe(flows + expected.invalid);
    expect(result.messages).toBe(expected.messages.length + expected.invalid);
  }, 60_000);

  it('alcor-clusters produce keeps kafkajs\' own log lines (partitioner notice, topic creation) off the terminal', async () => {
    // Topics that do not exist yet: the broker creates them on the first send, which kafkajs logs as errors.
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KAFKA_TOPIC_FLOWS: uniqueTopic('cli-flows'),
      KAFKA_TOPIC_VM_ATTRIBUTES: uniqueTopic('cli-vms'),
      KAFKA_TOPIC_TENANT_ATTRIBUTES: uniqueTopic('cli-tenants'),
    };
    delete env.KAFKAJS_NO_PARTITIONER_WARNING;
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [await compiled('src/cli/main.ts'), 'produce', TRACE, '--brokers', kafka.brokers, '--no-progress'], { env });
    expect(stdout).toBe('');
    const lines = stderr.trimEnd().split('\n');
    // The fixture's hostile lines are reported as the command's own warnings; nothing else but the final count.
    expect(lines.filter((l) => !l.startsWith('produce: warning: line ') && l !== 'produce: warning: more lines skipped; see the final counts')).toEqual([
      expect.stringMatching(/^produce: done: 4323 lines, \d+ messages \(.+\), \d+ records in [\d.]+ s/),
    ]);
  }, 60_000);
});
