/**
 * A member whose route cannot write its dead letters (the broker refuses them: here the dead-letter topic's
 * max.message.bytes is below any dead letter, a real broker fault) routes nothing more, as one process holds
 * its input: /readyz says so with `dead_letters` and one process's sentence, and is ready again once the
 * topic takes them. Before, the member stayed ready while it routed nothing.
 */
import { describe, expect, it } from 'vitest';
import { TraceGenerator } from '../../src/generator/index.ts';
import type { DeadLetterValue } from '../../src/kafka/dead-letter.ts';
import { ScaleOutView } from '../../src/topology/view.ts';
import { appFor, getJson } from '../http/helpers.ts';
import { readTopicValues, testKafkaClient } from '../helpers/kafka.ts';
import { generatedMessages, requestedInput } from '../helpers/members.ts';
import { memberTestFile } from '../helpers/scale-out.ts';
import { waitFor } from '../helpers/service-process.ts';

const file = memberTestFile();

type Ready = { status: string; missing: string[]; reasons: string[] };

describe('a member whose dead letters the broker refuses', () => {
  it('answers 503 with dead_letters while its route is held, routes nothing meanwhile, and is ready again once they are written', async ({ onTestFailed }) => {
    const app = await file.app('dlqheld', 1);
    const dlq = `${app.topics.flows}.rejected`;
    const admin = testKafkaClient(file.brokers, 'dlqheld-admin').admin();
    await admin.connect();
    const dlqLimit = (bytes: number) =>
      admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: dlq, configEntries: [{ name: 'max.message.bytes', value: String(bytes) }] }] });
    try {
      // Smaller than any dead letter, even one cut to an excerpt: every send is refused (MESSAGE_TOO_LARGE).
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: dlq, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: '128' }] }] });
      // The route in its worker thread, as the service runs it: the worker's producer is the one refused.
      const m = await file.member(app.topology, app.pipeline, { routeWorker: true });
      onTestFailed(() => console.log(`member log, last lines:\n${m.logs.slice(-40).join('\n')}`));
      const http = appFor(new ScaleOutView(m.service, m.member)).app;
      await waitFor(async () => (m.member.notReadyReason() === null ? true : undefined), 60_000, 'the member joined and caught up');

      const bad = ['not json 0', 'not json 1', 'not json 2'];
      await app.send(bad.map((value) => ({ topic: app.topics.flows, value })));
      const held = await waitFor(async () => {
        const r = await getJson<Ready>(http, '/readyz');
        return r.status === 503 && r.body.missing.includes('dead_letters') ? r.body : undefined;
      }, 60_000, '/readyz to report dead_letters');
      const esc = dlq.replace(/\./g, '\\.');
      expect(held.reasons[held.missing.indexOf('dead_letters')]).toMatch(
        new RegExp(
          `^rejects cannot be written to ${esc} since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z: MESSAGE_TOO_LARGE \\(.+\\); ` +
            'consuming is held and the records stay uncommitted \\(nothing is lost\\); ' +
            `raise max\\.message\\.bytes of ${esc}: it is retried with back-off, each time the batch is routed again$`,
        ),
      );
      // Held, not only slow: a few more seconds and still nothing committed, nothing written.
      await new Promise((r) => setTimeout(r, 3000));
      expect(m.member.status().routedMessages).toBe(0);
      expect(m.member.deadLettersHeld()).not.toBeNull();

      await dlqLimit(1024 * 1024);
      await waitFor(async () => ((await getJson<Ready>(http, '/readyz')).body.missing.includes('dead_letters') ? undefined : true), 90_000, '/readyz to drop dead_letters');
      await waitFor(async () => (m.member.status().routedMessages >= bad.length ? true : undefined), 60_000, 'the held batch routed');
      expect(m.member.status().routedMessages).toBe(bad.length);
      // The first three written are the first attempt's, kept in the buffer as cut for the 128-byte limit (an
      // excerpt of no characters: dead-letters.md); the batch routed again added its rejects again behind them (at least once).
      const letters = (await readTopicValues(file.brokers, dlq, bad.length, 20_000)).map((v) => JSON.parse(v) as DeadLetterValue);
      expect(letters.map((l) => [l.source, l.reason, l.raw, l.raw_chars])).toEqual(bad.map((raw, i) => [`${app.topics.flows}/0@${i}`, 'invalid_json', '', raw.length]));

      // Ready once it has a run, as any member.
      await app.send(generatedMessages(new TraceGenerator({ name: 'dlqheld', seed: 7, vms: 30, tenants: 3, minutes: 20 }), app.topicOf));
      await requestedInput(m);
      await waitFor(async () => (m.service.firstRunCompleted() ? true : undefined), 60_000, 'a run');
      expect(await getJson<Ready>(http, '/readyz')).toEqual({ status: 200, body: { status: 'ready', missing: [], reasons: [] } });
      await http.close();
    } finally {
      await admin.disconnect();
    }
  }, 240_000);
});
