// `npm run bench -- NAME [args]`: runs bench/NAME.ts. Each benchmark prints figures for people and
// ends with one JSON line comparing with a baseline measured in the same run.
import { existsSync, readdirSync } from 'node:fs';

const [name, ...rest] = process.argv.slice(2);
const dir = new URL('.', import.meta.url);
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
if (!name || !available.includes(name) || !existsSync(new URL(`${name}.ts`, dir))) {
  process.stderr.write(`usage: npm run bench -- NAME\navailable: ${available.join(', ')}\n`);
  process.exit(2);
}
process.argv = [process.argv[0]!, process.argv[1]!, ...rest];
await import(new URL(`${name}.ts`, dir).href);
