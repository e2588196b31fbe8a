/**
 * The replay of a committed fixture with the default configuration, made once per worker process. The pure
 * test files share their workers' module cache (`isolate: false`, test/helpers/isolation.ts), so the dozen
 * files that start from the small fixture's replay (the HTTP tests' view, run names, insights, placement)
 * pay for it once per worker instead of once each: a few seconds of CPU each on an idle machine, and the
 * largest part of those files' time. The outcome is shared: a test reads it and builds its own views over
 * it, and never changes the fleet, the pipeline or the runs.
 */
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { type ReplayOutcome, replayTrace } from '../../src/replay/replay.ts';

const replays = new Map<string, Promise<ReplayOutcome>>();

/**
 * `fixtures/<name>.jsonl.gz` replayed with the default options but `reclusterMinutes` (the default, 5: the
 * runs a replay makes on the way; 0: only the final run).
 */
export function fixtureReplay(name: 'small' | 'medium', reclusterMinutes?: number): Promise<ReplayOutcome> {
  const pipeline = PipelineOptions.parse(reclusterMinutes === undefined ? {} : { reclusterMinutes });
  const key = `${name}:${pipeline.reclusterMinutes}`;
  let replay = replays.get(key);
  if (replay === undefined) {
    replay = replayTrace(`fixtures/${name}.jsonl.gz`, { pipeline: toPipelineConfig(pipeline), run: toRunOptions(PipelineOptions.parse({})) });
    replays.set(key, replay);
  }
  return replay;
}
