/**
 * Issue 12's "run ids and cluster ids continue from the last published run": a run the leader could not
 * publish (here the runs topic refuses its record, a real broker fault) gives its number back. Before, each
 * attempt took the next number, so the runs topic named run-000001 then run-000004 (two attempts given up between them): a gap.
 */
import { describe, expect, it } from 'vitest';
import { TraceGenerator } from '../../src/generator/index.ts';
import { decodeDocumentInSlices } from '../../src/snapshots/sliced-document.ts';
import { TopicReader } from '../../src/topology/topic-reader.ts';
import { RunAssembler } from '../../src/topology/run-chunks.ts';
import { runToEnd } from '../../src/core/slices.ts';
import type { ClusterServiceState } from '../../src/service/cluster-service.ts';
import { generatedMessages, requestedInput } from '../helpers/members.ts';
import { testKafkaClient } from '../helpers/kafka.ts';
import { memberTestFile, TEST_READER_WAIT_MS } from '../helpers/scale-out.ts';
import { waitFor } from '../helpers/service-process.ts';

const file = memberTestFile();

const PARTITIONS = 2;

const runIdOf = (n: number): string => `run-${String(n).padStart(6, '0')}`;
const runNumber = (id: string): number => Number(id.replace(/^run-/, ''));

describe('a run that cannot be published', () => {
  it('gives its number back: the runs topic names consecutive runs, and the member serves the last published one meanwhile', async ({ onTestFailed }) => {
    const app = await file.app('runnumbers', PARTITIONS);
    const trace = generatedMessages(new TraceGenerator({ name: 'runnumbers', seed: 7, vms: 60, tenants: 4, minutes: 20 }), app.topicOf);
    const m = await file.member(app.topology, app.pipeline);
    onTestFailed(() => console.log(`member log, last lines:\n${m.logs.slice(-40).join('\n')}`));
    await app.send(trace);
    await requestedInput(m);
    await waitFor(async () => (m.logs.some((l) => l.includes('published the run')) ? true : undefined), 60_000, 'a run published');

    // The runs topic refuses any record of the size of a run: every attempt to publish fails.
    const admin = testKafkaClient(file.brokers, 'runnumbers-admin').admin();
    await admin.connect();
    const runsTopicLimit = async (bytes: number) =>
      admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: m.member.topics.runs, configEntries: [{ name: 'max.message.bytes', value: String(bytes) }] }] });
    const givenBack = (): Array<{ run_id: string; serving: string }> =>
      m.logs.filter((l) => l.includes('its number is given back')).map((l) => JSON.parse(l.slice(l.indexOf('{'))) as { run_id: string; serving: string });
    let last = 0;
    try {
      await runsTopicLimit(512);
      m.member.requestRun(false);
      // Twice: the second attempt at the run (its features waited) took the same number again.
      await waitFor(async () => (givenBack().length >= 2 ? true : undefined), 90_000, 'the run given back twice').catch((err: unknown) => {
        throw new Error(`${String(err)}\n${m.logs.slice(-20).join('\n')}`);
      });
      await runsTopicLimit(64 * 1024 * 1024);
    } finally {
      await admin.disconnect();
    }
    // Every attempt was the run after the last published one, and each left that one served.
    const back = givenBack();
    expect(back.length).toBeGreaterThanOrEqual(2);
    // Ticks of the trace may have been published before the limit: the last of them was served again each time.
    last = runNumber(back[0]!.serving);
    expect(last).toBeGreaterThanOrEqual(1);
    expect(new Set(back.map((b) => `${b.run_id} serving ${b.serving}`))).toEqual(new Set([`${runIdOf(last + 1)} serving ${runIdOf(last)}`]));
    await waitFor(async () => (m.logs.some((l) => l.includes('published the run') && l.includes(runIdOf(last + 1))) ? true : undefined), 90_000, `${runIdOf(last + 1)} published`);

    // What any member reads: the two runs, consecutive.
    const published: string[] = [];
    const kafka = testKafkaClient(file.brokers, 'runnumbers-reader');
    const assembler = new RunAssembler();
    const reader = new TopicReader(kafka, m.member.topics.runs, 'runnumbers-reader', async (msg) => {
      const entry = assembler.offer(msg.key, msg.value);
      if (entry.kind === 'chunk') return;
      if (entry.kind !== 'header') throw new Error(`a record of the runs topic that is not a chunk or header: ${entry.kind}`);
      const bytes = runToEnd(entry.assemble());
      published.push(((await decodeDocumentInSlices(bytes)) as { state: ClusterServiceState }).state.latest?.runId ?? 'none');
    }, { maxWaitMs: TEST_READER_WAIT_MS });
    await reader.start();
    await reader.caughtUp;
    await reader.stop();
    expect(published.length).toBeGreaterThanOrEqual(last + 1);
    const history = m.service.runHistory().map((r) => r.runId);
    expect(history).toEqual(Array.from({ length: history.length }, (_, i) => runIdOf(i + 1)));
    expect(published).toEqual(Array.from({ length: published.length }, (_, i) => runIdOf(i + 1)));
  }, 240_000);
});

describe('a leader whose runs producer is fenced', () => {
  it('stops leading and never fences back: the fencing producer keeps committing', async ({ onTestFailed }) => {
    const app = await file.app('runsfenced', PARTITIONS);
    const trace = generatedMessages(new TraceGenerator({ name: 'runsfenced', seed: 7, vms: 60, tenants: 4, minutes: 20 }), app.topicOf);
    const m = await file.member(app.topology, app.pipeline);
    onTestFailed(() => console.log(`member log, last lines:\n${m.logs.slice(-40).join('\n')}`));
    await app.send(trace);
    await requestedInput(m);
    await waitFor(async () => (m.logs.some((l) => l.includes('published the run')) ? true : undefined), 60_000, 'a run published');

    // Another producer of the runs' transactional id, as a new leader's (or a zombie's renewed one): it fences the member's.
    const other = testKafkaClient(file.brokers, 'runsfenced-other').producer({ transactionalId: `${app.topology.appId}-leader-runs`, idempotent: true, maxInFlightRequests: 1 });
    await other.connect();
    try {
      await (await other.transaction()).abort();
      const published = m.logs.filter((l) => l.includes('published the run')).length;
      m.member.requestRun(false);
      await waitFor(async () => (m.logs.some((l) => l.includes('the runs producer was fenced')) ? true : undefined), 60_000, 'the member fenced');
      expect(m.member.status().leader).toBe(false);
      // Before the fix the member ran the request again at once, met its fenced producer in kafkajs' ABORTING
      // state, took that for a broker fault and renewed the producer: which fenced this one, and this commit failed.
      await new Promise((r) => setTimeout(r, 3000));
      const txn = await other.transaction();
      await txn.send({ topic: app.topics.flows, messages: [{ value: 'not a flow: written by the fencing producer' }] });
      await txn.commit();
      expect(m.logs.filter((l) => l.includes('published the run')).length).toBe(published);
      expect(m.logs.filter((l) => l.includes('could not publish the run')).length).toBe(1);
    } finally {
      await other.disconnect();
    }
  }, 180_000);
});
