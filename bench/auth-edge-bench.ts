/**
 * The API's edge under key guessing (issue 10, section 3), in process with app.inject: one SHA-256 admin key
 * and one scrypt key, a rate limit of 3 a minute. Prints, one JSON line each:
 * - 8 wrong keys on /v1/vms, then 100 more on an unknown path (same client): statuses and time;
 * - the right and a wrong scrypt key on an unknown path: do the answers differ?
 * - 20 wrong keys from 20 addresses at once, while file reads (libuv's thread pool) run in a loop: the
 *   longest read shows whether scrypt starves the pool that snapshot and model writes use.
 *
 * npx tsx bench/auth-edge-bench.ts
 */
import { readFile } from 'node:fs/promises';
import { Registry } from 'prom-client';
import { buildApp } from '../src/http/app.ts';
import { type ApiKey, hashKey, parseKeyHash } from '../src/access/api-keys.ts';
import { ServiceMetrics } from '../src/observability/service-metrics.ts';
import { replaySmall } from '../test/http/helpers.ts';

const PERSON_KEY = 'correct-horse-battery';

async function adminKey(id: string, secret: string, kind: 'sha256' | 'scrypt'): Promise<ApiKey> {
  const hash = parseKeyHash(await hashKey(secret, kind));
  if (typeof hash === 'string') throw new Error(hash);
  return { id, hash, scope: { kind: 'admin' } };
}

const { view } = await replaySmall();
const keys = [await adminKey('admin', 'admin-key-0123456789abcdef0123456789abcdef', 'sha256'), await adminKey('person', PERSON_KEY, 'scrypt')];
const app = buildApp(view, {
  metrics: new ServiceMetrics(new Registry()),
  security: { keys, rateLimit: { max: 3, windowMs: 60_000 }, keyCheckLimit: { max: 10, windowMs: 60_000 } },
});
await app.ready();

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const tally = (codes: number[]): Record<number, number> => {
  const out: Record<number, number> = {};
  for (const c of codes) out[c] = (out[c] ?? 0) + 1;
  return out;
};

async function guesses(url: string, n: number): Promise<void> {
  const codes: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) codes.push((await app.inject({ method: 'GET', url, headers: bearer(`guess-${i}`) })).statusCode);
  console.log(JSON.stringify({ url, guesses: n, ms: Math.round(performance.now() - t0), statuses: tally(codes) }));
}

await guesses('/v1/vms', 8);
await guesses('/no-such-route', 100);
const right = await app.inject({ method: 'GET', url: '/no-such-route', headers: bearer(PERSON_KEY) });
const wrong = await app.inject({ method: 'GET', url: '/no-such-route', headers: bearer(`${PERSON_KEY}-x`) });
console.log(JSON.stringify({ unknown_path: { right_key: right.statusCode, wrong_key: wrong.statusCode } }));

let burstDone = false;
const reads = (async () => {
  const ms: number[] = [];
  while (!burstDone) {
    const t = performance.now();
    await readFile('package.json');
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return { reads: ms.length, median_ms: Number(ms[Math.floor(ms.length / 2)]!.toFixed(1)), max_ms: Number(ms.at(-1)!.toFixed(1)) };
})();
const t0 = performance.now();
const burst = await Promise.all(
  Array.from({ length: 20 }, (_, i) => app.inject({ method: 'GET', url: '/v1/vms', headers: bearer(`g${i}`), remoteAddress: `203.0.113.${i + 1}` })),
);
burstDone = true;
console.log(JSON.stringify({ concurrent_guesses: 20, ms: Math.round(performance.now() - t0), statuses: tally(burst.map((r) => r.statusCode)), file_reads_meanwhile: await reads }));
await app.close();
