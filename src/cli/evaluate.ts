/** npm run evaluate -- <result.json> <truth.json> [options]: see commands/evaluate.ts. */
import { runCli } from './args.ts';
import { evaluateCommand } from './commands/evaluate.ts';

runCli('evaluate', () => evaluateCommand.run(process.argv.slice(2), 'npm run evaluate --'));
