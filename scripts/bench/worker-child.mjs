// A worker process for one system and variant. Protocol over IPC: → ready; start → started,
// then progress every 20 ms; stop → ledger (payload seqs run, and handler start times), exit.
// Mode `flows` (scenario F) builds the system's flow worker (`flows.prepareWorker`), whose
// handlers also note their end time (`ends`, aligned with `seqs`).
import { nowMs } from './lib.mjs';

const [systemName, variant, url, wantTimes, mode] = process.argv.slice(2);
const recordTimes = wantTimes === '1';
const seqs = [];
const starts = [];
const ends = [];

/** Notes a handler start; returns the run's index for onEnd. */
function onJob(seq) {
  seqs.push(seq);
  if (recordTimes) starts.push(nowMs());
  return seqs.length - 1;
}

/** Notes the end of the handler run `index` (flows mode only). */
function onEnd(index) {
  ends[index] = nowMs();
}

function fail(err) {
  process.send?.({ type: 'error', message: err instanceof Error ? err.stack : String(err) });
  setTimeout(() => process.exit(1), 100);
}

// The bench may die without stopping us: never outlive it.
process.on('disconnect', () => process.exit(2));

let worker;
let timer;
try {
  const adapter = await import(`./systems/${systemName}.mjs`);
  worker =
    mode === 'flows'
      ? await adapter.flows.prepareWorker({ url, variant, onJob, onEnd })
      : await adapter.prepareWorker({ url, variant, onJob });
  process.send({ type: 'ready' });
} catch (err) {
  fail(err);
}

process.on('message', (msg) => {
  if (msg.type === 'start') {
    worker.start().then(() => {
      process.send({ type: 'started' });
      timer = setInterval(() => process.send({ type: 'progress', count: seqs.length }), 20);
    }, fail);
  } else if (msg.type === 'stop') {
    clearInterval(timer);
    worker.stop().then(() => {
      process.send({ type: 'ledger', seqs, starts, ends }, () => process.exit(0));
    }, fail);
  }
});
