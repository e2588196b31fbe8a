/**
 * serve [--host H] [--port N] [--brokers HOST:PORT,...]: the service, started as `npm start` starts it
 * (src/composition/serve-process.ts), configured by the environment (.env.example); the flags are
 * shorthands for HOST, PORT and KAFKA_BROKERS and win over both the environment and .env.
 */
import { parseFlags, unknownFlags } from '../args.ts';
import type { Command } from '../command.ts';

const help = (prog: string): string => `Usage: ${prog} [--host H] [--port N] [--brokers HOST:PORT[,...]]

Runs the service: consumes the contract's Kafka topics when KAFKA_BROKERS is set, else replays the bundled
trace into itself, and serves the clusters over REST (OpenAPI page at /docs). Every setting comes from the
environment (see .env.example), then from .env in the current folder for what the environment leaves unset;
a bad value stops it at start-up with a line naming it. State and models go to the package's state/ and
models/ unless STATE_DIR and MODELS_DIR say otherwise (docs/OPERATING.md).

  --host H                   listen address (HOST, default 127.0.0.1)
  --port N                   listen port (PORT, default 8080)
  --brokers HOST:PORT[,...]  Kafka bootstrap brokers (KAFKA_BROKERS; default: none, the bundled trace)
`;

const ENV_OF: Record<string, string> = { host: 'HOST', port: 'PORT', brokers: 'KAFKA_BROKERS' };

async function run(argv: readonly string[], prog: string): Promise<number> {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv, ['help']);
  } catch (err) {
    process.stderr.write(`serve: ${(err as Error).message}\n\n${help(prog)}`);
    return 2;
  }
  const { positionals, values } = parsed;
  if (values.help) {
    process.stdout.write(help(prog));
    return 0;
  }
  const unknown = unknownFlags(Object.keys(values), Object.keys(ENV_OF));
  if (unknown !== null) {
    process.stderr.write(`serve: ${unknown}\n\n${help(prog)}`);
    return 2;
  }
  if (positionals.length > 0) {
    process.stderr.write(`serve: unexpected ${positionals.join(', ')}\n\n${help(prog)}`);
    return 2;
  }
  // The service validates its configuration at start-up (service-config.ts): the flags only feed it.
  const overrides: Record<string, string> = {};
  for (const [flag, env] of Object.entries(ENV_OF)) {
    const v = values[flag];
    if (typeof v === 'string') overrides[env] = v;
  }
  // Loaded here, not at the top: `serve --help` needs none of the service's modules.
  const { serveProcess } = await import('../../composition/serve-process.ts');
  await serveProcess(overrides);
  return 0;
}

export const serveCommand: Command = {
  help,
  run,
};
