/**
 * Who leads (docs/scale-out.md, "Who leads"): the leader group's assignment of the single partition of
 * `<app>-leader`. kafkajs' round-robin gives it to the member id that sorts first, so a member joining with a
 * lower id took the leadership from a leader that was alive and well: a needless failover (its pending
 * gather dropped, a run dropped unpublished, the failover count off by one). Here the partition stays with
 * the member that holds it for as long as that member stays in the group under the same member id; only
 * when it has left (or was dropped and came back under a new id) does another member take it.
 */
import { AssignerProtocol, type GroupMember, type GroupMemberAssignment, type PartitionAssigner } from 'kafkajs';

export const STICKY_LEADER_ASSIGNER = 'AlcorStickyLeader';

/**
 * The member that leads the next generation: the one that says it held the leader partition under the
 * member id it still has (it was in every generation since, so no other member can have held it), else
 * the first member id in sorted order, as round-robin would choose.
 */
export function chooseLeader(members: ReadonlyArray<{ memberId: string; heldAs: string | null }>): string | null {
  const holder = members.find((m) => m.heldAs !== null && m.heldAs === m.memberId);
  if (holder !== undefined) return holder.memberId;
  const ids = members.map((m) => m.memberId).sort();
  return ids[0] ?? null;
}

/** What a member says when it joins: the member id under which it held the leader partition, or nothing. */
function heldAsOf(m: GroupMember): string | null {
  try {
    const text = AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.userData.toString('utf8') ?? '';
    return text === '' ? null : text;
  } catch {
    // A member of another version (or a broken one): it claims nothing.
    return null;
  }
}

/**
 * The assigner of the leader group. `heldAs` is read at every join (kafkajs asks for the protocol metadata
 * each time): the member id under which this member held the leader partition in its last generation.
 */
export function stickyLeaderAssigner(heldAs: () => string | null): PartitionAssigner {
  return ({ cluster }) => ({
    name: STICKY_LEADER_ASSIGNER,
    version: 0,
    async assign({ members, topics }): Promise<GroupMemberAssignment[]> {
      const leader = chooseLeader(members.map((m) => ({ memberId: m.memberId, heldAs: heldAsOf(m) })));
      return members.map((m) => {
        const assignment: Record<string, number[]> = {};
        if (m.memberId === leader) for (const topic of topics) assignment[topic] = cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId);
        return { memberId: m.memberId, memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment, userData: Buffer.alloc(0) }) };
      });
    },
    protocol({ topics }) {
      return { name: STICKY_LEADER_ASSIGNER, metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.from(heldAs() ?? '', 'utf8') }) };
    },
  });
}
