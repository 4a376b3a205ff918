#!/usr/bin/env node
// Entry point of the `sluice` binary: any failure ends as one line on stderr and exit code 1.
import { describeError } from './cli-error.js';
import { buildProgram } from './program.js';

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`sluice: ${describeError(err)}\n`);
  if (process.env.SLUICE_DEBUG === '1') console.error(err);
  process.exitCode = 1;
}
