/** `alcor-clusters produce` on a wrong input or with no broker: one line, quickly, no stack trace. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { getFreePort } from '../../tools/kafka-broker/index.ts';
import { compiled } from '../helpers/build.ts';

const run = promisify(execFile);
const produce = async (...args: string[]) => run(process.execPath, [await compiled('src/cli/main.ts'), 'produce', ...args], { env: { ...process.env, KAFKA_BROKERS: '' } });

it('fails within seconds with one line when no broker listens', async () => {
  const port = await getFreePort();
  const started = Date.now();
  const failure = await produce('fixtures/small.jsonl.gz', '--brokers', `127.0.0.1:${port}`).catch((e: { code: number; stdout: string; stderr: string }) => e);
  expect(Date.now() - started).toBeLessThan(15_000);
  expect(failure).toMatchObject({
    code: 1,
    stdout: '',
    stderr: `produce: cannot connect to Kafka at 127.0.0.1:${port}: Connection error: connect ECONNREFUSED 127.0.0.1:${port}\n`,
  });
}, 30_000);

it('checks the input file before contacting a broker', async () => {
  // 192.0.2.1 (TEST-NET-1) never answers: reaching for it would take the connection timeout and more.
  const started = Date.now();
  await expect(produce('no-such-trace.jsonl.gz', '--brokers', '192.0.2.1:9092')).rejects.toMatchObject({
    code: 1,
    stderr: 'alcor-clusters produce: no such file: no-such-trace.jsonl.gz\n',
  });
  await expect(produce('fixtures', '--brokers', '192.0.2.1:9092')).rejects.toMatchObject({ code: 2, stderr: 'produce: fixtures is not a file\n' });
  expect(Date.now() - started).toBeLessThan(10_000);
});
