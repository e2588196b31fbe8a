/** npm run produce -- <trace> [options]: see commands/produce.ts. */
import { runCli } from './args.ts';
import { produceCommand } from './commands/produce.ts';

runCli('produce', () => produceCommand.run(process.argv.slice(2), 'npm run produce --'));
