/**
 * The HTTP server's metrics, on the service's registry (src/observability/service-metrics.ts) so that one
 * /metrics scrape gives both.
 */
import { Histogram, type Registry } from 'prom-client';

const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class HttpMetrics {
  private readonly duration: Histogram<'method' | 'route' | 'status_code'>;

  constructor(registry: Registry, prefix: string) {
    this.duration = new Histogram({
      name: `${prefix}http_request_duration_seconds`,
      help: 'HTTP request duration, by method, route pattern and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: HTTP_BUCKETS,
      registers: [registry],
    });
  }

  request(method: string, route: string, statusCode: number, seconds: number): void {
    this.duration.observe({ method, route, status_code: String(statusCode) }, seconds);
  }
}
