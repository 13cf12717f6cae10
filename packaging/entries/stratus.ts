// Entry point of the packaged `stratus` CLI bundle: cli/main.ts exports run(), and this calls it with the
// process arguments and streams, as bin/stratus.js does when running from the sources.
import { run } from '../../cli/main.ts';

process.exitCode = await run(
  process.argv.slice(2),
  (s) => process.stdout.write(`${s}\n`),
  (s) => process.stderr.write(`${s}\n`),
);
