/**
 * API latency of GET /v1/vms/{id}, with load from a second process (autocannon), while the service is idle
 * and while it reclusters the ~11.6k VMs of the generated trace in its worker thread.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { startServiceProcess } from '../test/helpers/service-process.ts';

interface AutocannonResult {
  latency: { p50: number; p99: number; average: number; max: number };
  requests: { average: number; total: number };
  non2xx: number;
  errors: number;
}

const autocannonBin = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

async function load(url: string, seconds: number): Promise<AutocannonResult> {
  const { stdout } = await promisify(execFile)(process.execPath, [autocannonBin, '-c', '16', '-d', String(seconds), '-j', url], {
    maxBuffer: 1 << 24,
  });
  return JSON.parse(stdout) as AutocannonResult;
}

const summary = (r: AutocannonResult) => ({
  p50_ms: r.latency.p50,
  p99_ms: r.latency.p99,
  max_ms: r.latency.max,
  requests_per_s: Math.round(r.requests.average),
  non_2xx: r.non2xx,
  errors: r.errors,
});

export async function benchApi(trace: string): Promise<Record<string, unknown>> {
  // The rate limiter would answer most of autocannon's requests with 429: this measures the API, not the limiter.
  const svc = await startServiceProcess({ EMBEDDED_TRACE: trace, RECLUSTER_WALLCLOCK_SECONDS: '0', LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '0' });
  try {
    const deadline = Date.now() + 180_000;
    while ((await fetch(`${svc.url}/readyz`)).status !== 200) {
      if (Date.now() > deadline) throw new Error('service not ready');
      await new Promise((r) => setTimeout(r, 500));
    }
    const page = (await (await fetch(`${svc.url}/v1/vms?limit=1`)).json()) as { items: Array<{ vm_id: string }> };
    const vmUrl = `${svc.url}/v1/vms/${page.items[0]!.vm_id}`;
    const stats = (await (await fetch(`${svc.url}/v1/stats`)).json()) as { vms_tracked: number };
    const idle = await load(vmUrl, 5);

    const started = performance.now();
    const { run_id } = (await (await fetch(`${svc.url}/v1/recluster`, { method: 'POST' })).json()) as { run_id: string };
    const during = load(vmUrl, 4);
    let runMs = 0;
    for (;;) {
      const s = (await (await fetch(`${svc.url}/v1/stats`)).json()) as { latest_run_id: string | null };
      if (s.latest_run_id === run_id) {
        runMs = performance.now() - started;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const busy = await during;
    return {
      vms: stats.vms_tracked,
      endpoint: 'GET /v1/vms/{vm_id}',
      connections: 16,
      idle: summary(idle),
      during_recluster: { ...summary(busy), recluster_ms: Math.round(runMs), load_seconds: 4 },
    };
  } finally {
    await svc.stop('SIGTERM');
  }
}
