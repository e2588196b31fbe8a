/**
 * The leader group's sticky assignment (src/topology/leader-assignment.ts): the leader partition stays with
 * the member that holds it under the same member id, whoever joins; round-robin's choice otherwise.
 */
import { AssignerProtocol, type Cluster, type Logger } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { chooseLeader, STICKY_LEADER_ASSIGNER, stickyLeaderAssigner } from '../../src/topology/leader-assignment.ts';

describe('chooseLeader', () => {
  it('keeps the member that held the partition under its current id, even when a lower id joins', () => {
    expect(chooseLeader([{ memberId: 'm-b', heldAs: 'm-b' }, { memberId: 'm-a', heldAs: null }, { memberId: 'm-c', heldAs: null }])).toBe('m-b');
  });
  it('ignores a claim made under another id (the member was dropped from the group and came back)', () => {
    expect(chooseLeader([{ memberId: 'm-b2', heldAs: 'm-b' }, { memberId: 'm-c', heldAs: null }])).toBe('m-b2');
    expect(chooseLeader([{ memberId: 'm-d', heldAs: 'm-b' }, { memberId: 'm-c', heldAs: null }])).toBe('m-c');
  });
  it('takes the first id in order when nobody held it, and nobody in an empty group', () => {
    expect(chooseLeader([{ memberId: 'm-z', heldAs: null }, { memberId: 'm-y', heldAs: null }])).toBe('m-y');
    expect(chooseLeader([])).toBe(null);
  });
});

describe('stickyLeaderAssigner', () => {
  const cluster = { findTopicPartitionMetadata: () => [{ partitionId: 0 }] } as unknown as Cluster;
  const assigner = (heldAs: string | null) => stickyLeaderAssigner(() => heldAs)({ cluster, groupId: 'g', logger: {} as Logger });
  const decode = (b: Buffer) => AssignerProtocol.MemberAssignment.decode(b)?.assignment;

  it('says at every join under which id the member holds the partition, and the group leader assigns by it', async () => {
    const holder = assigner('m-b').protocol({ topics: ['app-leader'] });
    expect(holder.name).toBe(STICKY_LEADER_ASSIGNER);
    const joiner = assigner(null).protocol({ topics: ['app-leader'] });
    const out = await assigner(null).assign({
      members: [
        { memberId: 'm-a', memberMetadata: joiner.metadata },
        { memberId: 'm-b', memberMetadata: holder.metadata },
      ],
      topics: ['app-leader'],
    });
    expect(out.map((a) => [a.memberId, decode(a.memberAssignment)])).toEqual([
      ['m-a', {}],
      ['m-b', { 'app-leader': [0] }],
    ]);
  });
  it('takes metadata it cannot read as no claim', async () => {
    const out = await assigner(null).assign({ members: [{ memberId: 'm-b', memberMetadata: Buffer.from([1]) }, { memberId: 'm-a', memberMetadata: Buffer.alloc(0) }], topics: ['app-leader'] });
    expect(out.map((a) => [a.memberId, decode(a.memberAssignment)])).toEqual([
      ['m-b', {}],
      ['m-a', { 'app-leader': [0] }],
    ]);
  });
});
