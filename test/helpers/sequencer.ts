/**
 * The order in which vitest hands test files to its workers. vitest runs the files it has timed before
 * longest first, but a fresh clone (`.ci/run`) has no timings: it would start them in directory order, and
 * a few-minute file picked up last leaves the other workers idle until it ends. The files below take most of
 * a full run's time (measured, docs/testing.md): they start first, in this order, and the short files fill
 * the workers around them. Before handing out any file it builds dist/ when a file of the run needs it
 * (test/helpers/build.ts), so that no test's time includes the build, and meanwhile starts the shared broker
 * when a file will ask for it (test/helpers/kafka.ts), so that the two overlap.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { buildFor } from './build.ts';
import { startSharedBrokerFor } from './kafka.ts';

/**
 * Longest first, from the last idle CI run's per-file durations (two workers, December 2026; docs/testing.md:
 * broker-faults 123 s down to member-run-requests 21 s), then the files that led the list before it, which
 * took less there. Longest first is what lets two workers end together: a long file started late runs alone.
 */
export const LONG_FILES: readonly string[] = [
  'test/e2e/broker-faults.test.ts',
  'test/e2e/soak.test.ts',
  'test/topology/member-cache.test.ts',
  'test/topology/member-addresses.test.ts',
  'test/e2e/schemathesis.test.ts',
  'test/e2e/scale-out-failover.test.ts',
  'test/topology/member-tenants.test.ts',
  'test/topology/route-transactions.test.ts',
  'test/e2e/crash-recovery.test.ts',
  'test/kafka/sasl.test.ts',
  'test/topology/member-features-once.test.ts',
  'test/topology/route-thread.test.ts',
  'test/e2e/scale-out-members.test.ts',
  'test/e2e/live-service.test.ts',
  'test/http/ui/dashboard.test.ts',
  'test/kafka/produce.test.ts',
  'test/kafka/dead-letter.test.ts',
  'test/topology/member-run-numbers.test.ts',
  'test/replay/replay.test.ts',
  'test/topology/member-window-assignment.test.ts',
  'test/topology/member-runs-chunked.test.ts',
  'test/topology/member-run-requests.test.ts',
  'test/service/warm-runs.test.ts',
  'test/service/worker-clusterer.test.ts',
  'test/service/run-history-restart.test.ts',
  'test/runs/insights.test.ts',
  'test/e2e/restart-process.test.ts',
  'test/cli/wrong-inputs.test.ts',
  'test/clustering/dbscan-index.test.ts',
  'test/e2e/plotting-libraries.test.ts',
];

export class LongFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    // Sorting is the last step before the first file starts, and it sees every file of the run.
    const paths = [...new Set(files.map((spec) => spec.moduleId))];
    startSharedBrokerFor(paths);
    await buildFor(paths);
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification): number => {
      const i = LONG_FILES.findIndex((path) => spec.moduleId.endsWith(`/${path}`));
      return i < 0 ? LONG_FILES.length : i;
    };
    // A stable sort: the other files keep vitest's own order (its timings, when it has them).
    return sorted.map((spec, i) => ({ spec, i, r: rank(spec) })).sort((a, b) => a.r - b.r || a.i - b.i).map(({ spec }) => spec);
  }
}
