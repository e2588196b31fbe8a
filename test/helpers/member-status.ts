/** A member's status for the metrics' unit tests: every field set, the counters given by the caller. */
import type { MemberStatus } from '../../src/topology/member.ts';

export function memberStatus(o: Partial<MemberStatus> = {}): MemberStatus {
  return {
    leader: false,
    partitions: [2, 5],
    vms: 7,
    leaderships: 0,
    records: { flows: 0, vmAttributes: 0, tenantAttributes: 0 },
    rejected: { count: 0, by_reason: {} },
    held: { flows: 0, bytes: 0, held: 0, refused: 0, endsAttributedLate: 0, expired: 0 },
    changelogLag: 4,
    restores: { local: 0, changelog: 2, input: 0, rebuilt: 0 },
    lastRestoreMs: 3,
    routedMessages: 0,
    routedRecords: 0,
    routeTransactions: 0,
    routePacedCuts: 0,
    appliedRecords: 0,
    featuresPublished: 0,
    ticksNotSentAgain: 0,
    routeWorkerRestarts: 0,
    runsNotServed: { unreadable: 0, torn: 0 },
    stageSeconds: { route: { fetch_wait: 0, route: 0, dead_letters: 0, send: 0, offsets: 0, commit: 0 }, window: { fetch_wait: 0, apply: 0, publish: 0 } },
    ...o,
  };
}
