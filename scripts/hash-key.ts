/**
 * npm run hash-key -- [--scrypt] [--scope admin|tenant:<id>] [<key> | --generate]
 *
 * Prints the API_KEYS entry for a key: `<hash>:<scope>`. Without a key argument the key is read from
 * standard input (so it stays out of shell history); --generate makes a random key and prints it first.
 * SHA-256 is right for generated keys (256 random bits); --scrypt for a key a person chose.
 */
import { parseArgs } from 'node:util';
import { generateKey, hashKey } from '../src/access/api-keys.ts';
import { parseScope } from '../src/access/scope.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

const HELP = `Usage: npm run hash-key -- [--scrypt] [--scope admin|tenant:<tenant_id>] [<key> | --generate]

Prints the API_KEYS entry for an API key: <hash>:<scope> (docs/security.md). The key is read from standard
input when not given (so it stays out of shell history).

  --generate        make a random key and print it, then its entry
  --scope SCOPE     admin (default) or tenant:<tenant_id>
  --scrypt          hash with scrypt (for a key a person chose) instead of SHA-256 (right for generated keys)
  --help            this text
`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      scrypt: { type: 'boolean', default: false },
      generate: { type: 'boolean', default: false },
      scope: { type: 'string', default: 'admin' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (parseScope(values.scope) === null) throw new Error(`--scope: admin or tenant:<tenant_id>, got ${JSON.stringify(values.scope)}`);
  let key: string;
  if (values.generate) {
    key = generateKey();
    process.stdout.write(`key:     ${key}\n`);
  } else {
    key = positionals[0] ?? (await readStdin());
  }
  if (key === '') throw new Error('no key: pass one, pipe one in, or use --generate');
  if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(key) || key.length > 512) {
    throw new Error('a key must be 1..512 characters of A-Z a-z 0-9 - . _ ~ + / (then = padding): the Bearer token syntax');
  }
  const hash = await hashKey(key, values.scrypt ? 'scrypt' : 'sha256');
  process.stdout.write(`${values.generate ? 'entry:   ' : ''}${hash}:${values.scope}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`hash-key: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
