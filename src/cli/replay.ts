/** npm run replay -- <trace> --out <result.json> [options]: see commands/replay.ts. */
import { runCli } from './args.ts';
import { replayCommand } from './commands/replay.ts';

runCli('replay', () => replayCommand.run(process.argv.slice(2), 'npm run replay --'));
