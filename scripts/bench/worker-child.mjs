// A worker process for one system and variant. Protocol over IPC: → ready; start → started,
// then progress every 20 ms; stop → ledger (payload seqs run, and handler start times), exit.
import { nowMs } from './lib.mjs';

const [systemName, variant, url, wantTimes] = process.argv.slice(2);
const recordTimes = wantTimes === '1';
const seqs = [];
const starts = [];

function onJob(seq) {
  seqs.push(seq);
  if (recordTimes) starts.push(nowMs());
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
  worker = await adapter.prepareWorker({ url, variant, onJob });
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
      process.send({ type: 'ledger', seqs, starts }, () => process.exit(0));
    }, fail);
  }
});
