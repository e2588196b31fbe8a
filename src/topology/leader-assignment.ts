/**
 * Who leads (docs/scale-out.md, "Who leads"): the leader group's assignment of the single partition of
 * `<app>-leader`. kafkajs' round-robin gives it to the member id that sorts first, so a member joining with a
 * lower id took the leadership from a leader that was alive and well: a needless failover (its pending
 * gather dropped, a run dropped unpublished, the failover count off by one). Here the partition stays with
 * the member that holds it for as long as that member stays in the group under the same member id; only
 * when it has left (or was dropped and came back under a new id) does another member take it. It is the
 * window partitions' rule (window-assignment.ts) for one partition; the claim keeps its own, older form.
 */
import type { PartitionAssigner } from 'kafkajs';
import type { StickyRule } from './sticky-assigner.ts';
import { stickyAssigner } from './sticky-assigner.ts';
import { assignWindows } from './window-assignment.ts';

export const STICKY_LEADER_ASSIGNER = 'AlcorStickyLeader';

/**
 * The member that leads the next generation: the one that says it held the leader partition under the
 * member id it still has (it was in every generation since, so no other member can have held it), else
 * the first member id in sorted order, as round-robin would choose.
 */
export function chooseLeader(members: ReadonlyArray<{ memberId: string; heldAs: string | null }>): string | null {
  const dealt = assignWindows(
    members.map((m) => ({ memberId: m.memberId, claim: m.heldAs === null ? null : { as: m.heldAs, held: [0] } })),
    [0],
  );
  for (const [memberId, held] of dealt) if (held.length > 0) return memberId;
  return null;
}

/** The claim is the member id under which the member held the leader partition, as plain text. */
const LEADER_RULE: StickyRule<string> = {
  name: STICKY_LEADER_ASSIGNER,
  encode: (heldAs) => heldAs,
  decode: (text) => text,
  // Every partition of the leader topic to the leader (it has one; more would be a misconfiguration).
  deal(members, partitions) {
    const leader = chooseLeader(members.map((m) => ({ memberId: m.memberId, heldAs: m.claim })));
    return new Map(leader === null ? [] : [[leader, [...partitions]]]);
  },
};

/**
 * The assigner of the leader group. `heldAs` is read at every join (kafkajs asks for the protocol metadata
 * each time): the member id under which this member held the leader partition in its last generation.
 */
export function stickyLeaderAssigner(heldAs: () => string | null): PartitionAssigner {
  return stickyAssigner(LEADER_RULE, heldAs);
}
