// Preloaded into a `sluice work` child by work-start-up.test.ts: says on stderr when the CLI
// installs its SIGTERM handler. Before that moment Node's default action kills the process (no
// code of ours has run, so nothing is left to clean up); the test times its signal from here
// rather than from spawn, which on a loaded machine can be later than any fixed delay.
process.on('newListener', (event) => {
  if (event === 'SIGTERM') process.stderr.write('test: SIGTERM handler installed\n');
});
