/**
 * The frame of the topology's sticky assigners (leader-assignment.ts, window-assignment.ts): each member says
 * at every join what it held and under which member id (the protocol metadata's user data, as text), and the
 * group leader deals the partitions out from those claims. Only the claim's text form and the dealing rule
 * differ between the groups.
 */
import { AssignerProtocol, type GroupMemberAssignment, type PartitionAssigner } from 'kafkajs';

/** One member as the dealing rule sees it: its id in this generation and what it claims, if anything. */
export interface Claimant<C> {
  memberId: string;
  claim: C | null;
}

export interface StickyRule<C> {
  /** The protocol name: members agree on it, so changing it (or the claim's form) breaks a rolling deploy. */
  name: string;
  /** The claim as the metadata's user data; '' for none. */
  encode(claim: C): string;
  /** The claim read back; null for a member of another version (or a broken one), which then claims nothing. */
  decode(text: string): C | null;
  /** The partitions of each member in the next generation, from every member's claim. */
  deal(members: ReadonlyArray<Claimant<C>>, partitions: readonly number[]): Map<string, number[]>;
}

/** Member ids in code-unit order, as kafkajs' round-robin sorts them: the same on every host, whatever its locale. */
export const byMemberId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function claimOf<C>(rule: StickyRule<C>, metadata: Buffer): C | null {
  try {
    const text = AssignerProtocol.MemberMetadata.decode(metadata)?.userData.toString('utf8') ?? '';
    return text === '' ? null : rule.decode(text);
  } catch {
    return null;
  }
}

/** The assigner of a group; `claim` is read at every join (kafkajs asks for the protocol metadata each time). */
export function stickyAssigner<C>(rule: StickyRule<C>, claim: () => C | null): PartitionAssigner {
  return ({ cluster }) => ({
    name: rule.name,
    version: 0,
    async assign({ members, topics }): Promise<GroupMemberAssignment[]> {
      const claimants = members.map((m) => ({ memberId: m.memberId, claim: claimOf(rule, m.memberMetadata) }));
      const byTopic = topics.map((topic) => ({ topic, dealt: rule.deal(claimants, cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId)) }));
      return members.map((m) => {
        const assignment: Record<string, number[]> = {};
        for (const { topic, dealt } of byTopic) {
          const mine = dealt.get(m.memberId) ?? [];
          if (mine.length > 0) assignment[topic] = mine;
        }
        return { memberId: m.memberId, memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment, userData: Buffer.alloc(0) }) };
      });
    },
    protocol({ topics }) {
      const c = claim();
      return { name: rule.name, metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.from(c === null ? '' : rule.encode(c), 'utf8') }) };
    },
  });
}
