import { describe, expect, it } from 'vitest';
import { describeRoutes, rangeProblems, routeCommits } from './route-ranges.ts';

const line = (input: string, from: number, next: number, join: number, time: number): string =>
  JSON.stringify({ level: 30, time, msg: 'route transaction committed', input, from: String(from), next: String(next), messages: next - from, route_join: join });

describe('route ranges from the members\' logs', () => {
  it('finds an input range committed twice and one never committed, with who committed around it', () => {
    const logs = [
      [line('f:0', 0, 10, 1, 1), line('f:0', 10, 20, 1, 2), line('v:0', 0, 5, 1, 3), 'not json', '{"msg":"route transaction committed"'].join('\n'),
      [line('f:0', 15, 30, 2, 4), line('f:0', 30, 30, 2, 5), line('f:0', 35, 40, 2, 6), line('v:0', 5, 9, 2, 7)].join('\n'),
    ];
    const commits = routeCommits(logs);
    expect(commits.length).toBe(7);
    expect(rangeProblems(commits)).toEqual([
      { input: 'f:0', kind: 'twice', from: 15n, next: 20n, by: ['member 0 join 1 [10, 20)', 'member 1 join 2 [15, 30)'] },
      { input: 'f:0', kind: 'never', from: 30n, next: 35n, by: ['member 1 join 2 [15, 30)', 'member 1 join 2 [35, 40)'] },
    ]);
    expect(describeRoutes(logs)).toBe(
      [
        'route commits per input, member and join (in commit order):',
        '  f:0 member 0 join 1: [0, 20) in 2 transactions, 20 messages',
        '  v:0 member 0 join 1: [0, 5) in 1 transactions, 5 messages',
        '  f:0 member 1 join 2: [15, 40) in 3 transactions, 20 messages',
        '  v:0 member 1 join 2: [5, 9) in 1 transactions, 4 messages',
        'route offsets committed twice or never:',
        '  f:0 [15, 20) committed twice: member 0 join 1 [10, 20) and member 1 join 2 [15, 30)',
        '  f:0 [30, 35) never committed: member 1 join 2 [15, 30) and member 1 join 2 [35, 40)',
      ].join('\n'),
    );
  });

  it('says so when every offset was committed once', () => {
    const logs = [[line('f:0', 0, 10, 1, 1), line('f:0', 10, 20, 3, 2)].join('\n')];
    expect(rangeProblems(routeCommits(logs))).toEqual([]);
    expect(describeRoutes(logs).endsWith('every input offset up to the last commit committed once')).toBe(true);
  });
});
