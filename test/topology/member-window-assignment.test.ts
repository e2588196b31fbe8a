/**
 * The window group's sticky assignment on a real broker (src/topology/window-assignment.ts): a member that
 * joins takes one partition of six from the most loaded, and no other partition moves (round-robin moved
 * three to six of them, each fenced, restored and replayed).
 */
import { describe, expect, it } from 'vitest';
import { TraceGenerator } from '../../src/generator/index.ts';
import type { TestMember } from '../helpers/members.ts';
import { generatedMessages } from '../helpers/members.ts';
import { memberTestFile } from '../helpers/scale-out.ts';
import { waitFor } from '../helpers/service-process.ts';

const file = memberTestFile();

const PARTITIONS = 6;

const restores = (m: TestMember): number => Object.values(m.member.status().restores).reduce((a, b) => a + b, 0);

describe('a member joining three', () => {
  it('takes one partition from the most loaded; the others keep theirs without a restore', async () => {
    const app = await file.app('stickywin', PARTITIONS);
    const members = await Promise.all([0, 1, 2].map(() => file.member(app.topology, app.pipeline)));
    await app.send(generatedMessages(new TraceGenerator({ name: 'stickywin', seed: 5, vms: 60, tenants: 4, minutes: 20 }), app.topicOf));
    const settled = (ms: TestMember[], shares: number[]) =>
      waitFor(
        async () =>
          JSON.stringify(ms.map((m) => m.member.status().partitions.length).sort()) === JSON.stringify(shares) && ms.every((m) => m.member.notReadyReason() === null) ? true : undefined,
        90_000,
        `partitions held ${shares.join(', ')}`,
      );
    await settled(members, [2, 2, 2]);
    const held = members.map((m) => m.member.status().partitions);
    const before = members.map(restores);

    const joiner = await file.member(app.topology, app.pipeline);
    await settled([...members, joiner], [1, 1, 2, 2]);
    // Each of the three kept what it held but at most one partition, and restored nothing.
    const kept = members.map((m, i) => held[i]!.filter((p) => m.member.status().partitions.includes(p)).length);
    expect(kept.sort()).toEqual([1, 2, 2]);
    expect(members.map(restores)).toEqual(before);
    expect(joiner.member.status().partitions.length).toBe(1);
    expect(restores(joiner)).toBe(1);
  }, 180_000);
});
