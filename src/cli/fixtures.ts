/** npm run fixtures -- --preset NAME | --name N --seed N --vms N --tenants N [options]: see commands/fixtures.ts. */
import { runCli } from './args.ts';
import { fixturesCommand } from './commands/fixtures.ts';

runCli('fixtures', () => fixturesCommand.run(process.argv.slice(2), 'npm run fixtures --'));
