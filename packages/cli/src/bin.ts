#!/usr/bin/env node
// Entry point of the `sluice` binary: any failure ends as one line on stderr and exit code 1.
// Stop signals are caught before anything else is loaded (see stop-signals.ts); the rest of the
// CLI, with its heavy dependencies, is imported after that.
import {
  installStopSignals,
  isStopHandled,
  releaseStopSignals,
  stopSignal,
} from './stop-signals.js';

installStopSignals();

const { describeError } = await import('./cli-error.js');
const { buildProgram } = await import('./program.js');
const program = buildProgram();
// Only `sluice work` stops gracefully; every other command dies by the signal as usual.
program.hook('preAction', (_program, action) => {
  if (action.name() !== 'work' || action.parent !== program) releaseStopSignals();
});
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (!stopSignal.aborted) {
    process.stderr.write(`sluice: ${describeError(err)}\n`);
    if (process.env.SLUICE_DEBUG === '1') console.error(err);
    // Now, not when the event loop drains: a tasks module that failed to load in part would
    // keep it alive, and Node prints a CommonJS syntax error's whole stack again on the way out.
    process.exit(1);
  }
}
// Stopped during start-up, before a worker took the signal over: nothing is left to finish,
// whatever the tasks module still holds open.
if (stopSignal.aborted && !isStopHandled()) process.exit(process.exitCode ?? 0);
