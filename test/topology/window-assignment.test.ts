/**
 * The window group's sticky assignment (src/topology/window-assignment.ts), against kafkajs' round-robin
 * that it replaces: how many by-VM partitions move (each one fenced, restored and replayed) when a member
 * joins or dies.
 */
import { AssignerProtocol, type Cluster, type GroupMember, type Logger, PartitionAssigners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { assignWindows, STICKY_WINDOW_ASSIGNER, stickyWindowAssigner, type WindowClaim } from '../../src/topology/window-assignment.ts';

const SIX = [0, 1, 2, 3, 4, 5];
const TOPIC = 'app-by-vm';
const cluster = { findTopicPartitionMetadata: () => SIX.map((partitionId) => ({ partitionId })) } as unknown as Cluster;
const decode = (b: Buffer): number[] => AssignerProtocol.MemberAssignment.decode(b)?.assignment[TOPIC] ?? [];

/** Each member's partitions as they claim them at the next join (under the ids they keep). */
const claims = (assigned: Map<string, number[]>, ids: string[]) => ids.map((memberId) => ({ memberId, claim: assigned.has(memberId) ? { as: memberId, held: assigned.get(memberId)! } : null }));
const moved = (before: Map<string, number[]>, after: Map<string, number[]>): number => {
  let n = 0;
  for (const [id, ps] of after) for (const p of ps) if (!(before.get(id) ?? []).includes(p)) n++;
  return n;
};

/** kafkajs' round-robin over the same members, for the figure it replaces. */
async function roundRobin(ids: string[]): Promise<Map<string, number[]>> {
  const rr = PartitionAssigners.roundRobin({ cluster, groupId: 'g', logger: {} as Logger });
  const members = ids.map((memberId) => ({ memberId, memberMetadata: Buffer.alloc(0) }) as GroupMember);
  const out = await rr.assign({ members, topics: [TOPIC] });
  return new Map(out.map((a) => [a.memberId, decode(a.memberAssignment)]));
}

describe('assignWindows', () => {
  it('deals six partitions to three fresh members as round-robin does', async () => {
    const ids = ['m-a', 'm-b', 'm-c'];
    expect(assignWindows(claims(new Map(), ids), SIX)).toEqual(await roundRobin(ids));
  });
  it('orders member ids by code unit as round-robin does, not by the host locale', async () => {
    // A locale's collation puts 'm-a' before 'm-B'; code units (and kafkajs) put 'm-B' first.
    const ids = ['m-a', 'm-B', 'm-c'];
    const dealt = assignWindows(claims(new Map(), ids), SIX);
    expect(dealt).toEqual(await roundRobin(ids));
    expect(dealt.get('m-B')).toEqual([0, 3]);
  });

  it('moves one partition when a fourth member joins, where round-robin moves 3 to 6 depending on where its id sorts', async () => {
    const three = ['m-b', 'm-c', 'm-d'];
    for (const joiner of ['m-a', 'm-e']) {
      const before = assignWindows(claims(new Map(), three), SIX);
      const after = assignWindows(claims(before, [...three, joiner]), SIX);
      expect(moved(before, after)).toBe(1);
      expect([...after.values()].map((ps) => ps.length).sort()).toEqual([1, 1, 2, 2]);
      expect(after.get(joiner)!.length).toBe(1);
    }
    expect(moved(await roundRobin(three), await roundRobin([...three, 'm-a']))).toBe(6);
    expect(moved(await roundRobin(three), await roundRobin([...three, 'm-e']))).toBe(3);
  });

  it('moves only the dead member\'s partitions when one dies, where round-robin moves four', async () => {
    const before = assignWindows(claims(new Map(), ['m-a', 'm-b', 'm-c']), SIX);
    const after = assignWindows(claims(before, ['m-a', 'm-c']), SIX);
    expect(after).toEqual(
      new Map([
        ['m-a', [0, 1, 3]],
        ['m-c', [2, 4, 5]],
      ]),
    );
    expect(moved(before, after)).toBe(2);
    expect(moved(await roundRobin(['m-a', 'm-b', 'm-c']), await roundRobin(['m-a', 'm-c']))).toBe(4);
  });

  it('ignores a claim made under another member id, and partitions the topic no longer has', () => {
    // m-a was dropped and came back as m-a2: another member may have held (and fenced) its partitions since.
    const assigned = assignWindows(
      [
        { memberId: 'm-a2', claim: { as: 'm-a', held: [0, 1, 2] } },
        { memberId: 'm-b', claim: { as: 'm-b', held: [3, 4, 9] } },
      ],
      SIX,
    );
    expect(assigned).toEqual(
      new Map([
        ['m-b', [3, 4, 5]],
        ['m-a2', [0, 1, 2]],
      ]),
    );
    expect(assignWindows([], SIX)).toEqual(new Map());
  });
});

describe('stickyWindowAssigner', () => {
  it('carries each member\'s claim in its join, and the group leader assigns by the claims', async () => {
    const assigner = (claim: WindowClaim | null) => stickyWindowAssigner(() => claim)({ cluster, groupId: 'g', logger: {} as Logger });
    const joins = [
      { memberId: 'm-a', meta: assigner({ as: 'm-a', held: [4, 5] }).protocol({ topics: [TOPIC] }) },
      { memberId: 'm-b', meta: assigner(null).protocol({ topics: [TOPIC] }) },
      { memberId: 'm-c', meta: assigner({ as: 'm-c', held: [0, 1, 2, 3] }).protocol({ topics: [TOPIC] }) },
    ];
    expect(joins[0]!.meta.name).toBe(STICKY_WINDOW_ASSIGNER);
    const members = joins.map((j) => ({ memberId: j.memberId, memberMetadata: j.meta.metadata }) as GroupMember);
    const out = await assigner(null).assign({ members, topics: [TOPIC] });
    // m-c gives two of its four to m-b, which held none; m-a keeps its two.
    expect(Object.fromEntries(out.map((a) => [a.memberId, decode(a.memberAssignment)]))).toEqual({ 'm-a': [4, 5], 'm-b': [2, 3], 'm-c': [0, 1] });
    // A member of another version claims nothing.
    const garbled = { memberId: 'm-d', memberMetadata: Buffer.from('not metadata') } as GroupMember;
    const withOld = await assigner(null).assign({ members: [...members, garbled], topics: [TOPIC] });
    expect(withOld.map((a) => decode(a.memberAssignment).length).sort()).toEqual([1, 1, 2, 2]);
  });
});
