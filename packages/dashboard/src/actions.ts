// Every mutation the dashboard offers, each one admin function call (or a bounded loop over the
// selected ids) plus its audit row, run by the caller in one transaction.
import {
  listJobs,
  cancelJob,
  pauseQueue,
  purgeDeadLetters,
  recordAudit,
  replayDeadLetter,
  replayDeadLetters,
  resumeQueue,
  retryJob,
  runScheduleNow,
  setScheduleEnabled,
  updateQueue,
} from 'sluice/admin';
import type { PoolClient } from 'pg';
import { HttpError } from './page-context.js';
import { jobFilter, MAX_MATCHING } from './pages/queue.js';
import {
  deadLetterFilter,
  parseId,
  parseLimit,
  parseName,
  type DeadLetterFilter,
} from './params.js';

/** What an action reports back: a message for the next page and its audit row. */
export interface ActionOutcome {
  message: string;
  isOk: boolean;
}

interface ActionInput {
  db: PoolClient;
  schema: string;
  user: string;
  /** Path parameter (a job id, queue or schedule name), if the route has one. */
  param: string;
  form: URLSearchParams;
}

type Action = (input: ActionInput) => Promise<ActionOutcome>;

// Selected rows per bulk action: one page of the list, bounded so a form cannot ask for more.
const MAX_SELECTED = 500;

function selectedIds(form: URLSearchParams): string[] {
  const ids = [...new Set(form.getAll('id'))];
  if (ids.length === 0) throw new HttpError(400, 'select at least one row');
  if (ids.length > MAX_SELECTED) throw new HttpError(400, `select at most ${MAX_SELECTED} rows`);
  return ids.map((id) => parseId(id));
}

async function audit(
  i: ActionInput,
  action: string,
  rest: { target?: string; filter?: unknown; count: number },
): Promise<void> {
  await recordAudit({ db: i.db, schema: i.schema, actor: i.user, action, ...rest });
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function filterOf(form: URLSearchParams): DeadLetterFilter {
  const f = new URLSearchParams();
  for (const k of ['queue', 'task', 'since']) {
    const v = form.get(`filter_${k}`);
    if (v) f.set(k, v);
  }
  return deadLetterFilter(f);
}

function filterJson(f: DeadLetterFilter) {
  return { queue: f.queue ?? null, task: f.task ?? null, since: f.since?.toISOString() ?? null };
}

const jobRetry: Action = async (i) => {
  const id = parseId(i.param);
  const ok = await retryJob({ db: i.db, schema: i.schema, id });
  await audit(i, 'job.retry', { target: id, count: ok ? 1 : 0 });
  return ok
    ? { isOk: true, message: `Job ${id} will run now.` }
    : { isOk: false, message: `Job ${id} is not pending: nothing to run now.` };
};

const jobCancel: Action = async (i) => {
  const id = parseId(i.param);
  const ok = await cancelJob({ db: i.db, schema: i.schema, id, reason: `cancelled by ${i.user}` });
  await audit(i, 'job.cancel', { target: id, count: ok ? 1 : 0 });
  return ok
    ? { isOk: true, message: `Job ${id} cancelled.` }
    : { isOk: false, message: `Job ${id} is already finished: nothing to cancel.` };
};

const jobReplay: Action = async (i) => {
  const id = parseId(i.param);
  const replayed = await replayDeadLetter({ db: i.db, schema: i.schema, id });
  await audit(i, 'dead_letter.replay', { target: id, count: replayed ? 1 : 0 });
  return replayed
    ? { isOk: true, message: `Job ${id} replayed: it is pending again.` }
    : {
        isOk: false,
        message: `Job ${id} was not replayed (not dead, or a live job holds its unique key).`,
      };
};

const jobsBulk: Action = async (i) => {
  const action = i.form.get('action');
  if (action !== 'retry' && action !== 'cancel')
    throw new HttpError(400, 'action must be retry or cancel');
  const ids = selectedIds(i.form);
  let n = 0;
  for (const id of ids) {
    const ok =
      action === 'retry'
        ? await retryJob({ db: i.db, schema: i.schema, id })
        : await cancelJob({ db: i.db, schema: i.schema, id, reason: `cancelled by ${i.user}` });
    if (ok) n += 1;
  }
  await audit(i, `job.${action}_selected`, { filter: { ids }, count: n });
  const verb = action === 'retry' ? 'will run now' : 'cancelled';
  return { isOk: n > 0, message: `${plural(n, 'job')} of ${ids.length} selected ${verb}.` };
};

// Every job of the queue page's filter, walked by keyset in pages of 200 over live rows only
// (the pending, running or blocked tab), changing at most MAX_MATCHING of them.
const jobsMatching: Action = async (i) => {
  const action = i.form.get('action');
  if (action !== 'retry' && action !== 'cancel') {
    throw new HttpError(400, 'action must be retry or cancel');
  }
  const params = new URLSearchParams();
  for (const [k, v] of i.form) if (k.startsWith('filter_') && v) params.set(k.slice(7), v);
  const queue = parseName(params.get('queue') ?? '', 'queue');
  params.delete('before');
  const filter = jobFilter(params);
  const allowed = action === 'retry' ? ['pending'] : ['pending', 'running', 'blocked'];
  if (!filter.state || !allowed.includes(filter.state)) {
    throw new HttpError(400, `"${action} all matching" needs the ${allowed.join(' or ')} tab`);
  }
  let n = 0;
  let seen = 0;
  let beforeId: string | undefined;
  while (seen < MAX_MATCHING) {
    const limit = Math.min(200, MAX_MATCHING - seen);
    const page = await listJobs({ db: i.db, schema: i.schema, ...filter, queue, beforeId, limit });
    for (const job of page) {
      const ok =
        action === 'retry'
          ? await retryJob({ db: i.db, schema: i.schema, id: job.id })
          : await cancelJob({
              db: i.db,
              schema: i.schema,
              id: job.id,
              reason: `cancelled by ${i.user}`,
            });
      if (ok) n += 1;
    }
    seen += page.length;
    if (page.length < limit) break;
    beforeId = page.at(-1)?.id;
  }
  const shown = {
    queue,
    ...Object.fromEntries([...params].filter(([k]) => k !== 'queue')),
  };
  await audit(i, `job.${action}_matching`, { filter: shown, count: n });
  const verb = action === 'retry' ? 'will run now' : 'cancelled';
  const more = seen >= MAX_MATCHING ? ` (stopped at ${MAX_MATCHING}; run it again for more)` : '';
  return { isOk: n > 0, message: `${plural(n, 'job')} matching the filter ${verb}${more}.` };
};

function queueSetPaused(isPaused: boolean): Action {
  return async (i) => {
    const name = parseName(i.param, 'queue');
    const set = isPaused ? pauseQueue : resumeQueue;
    const ok = await set({ db: i.db, schema: i.schema, name });
    if (!ok) throw new HttpError(404, `no queue named ${name}`);
    await audit(i, isPaused ? 'queue.pause' : 'queue.resume', { target: name, count: 1 });
    return { isOk: true, message: `Queue ${name} ${isPaused ? 'paused' : 'resumed'}.` };
  };
}

const queueLimits: Action = async (i) => {
  const name = parseName(i.param, 'queue');
  const max = 1_000_000;
  const window = parseLimit(i.form.get('rate_window_ms') ?? undefined, 'rate window', 86_400_000);
  const settings = {
    concurrencyLimit: parseLimit(i.form.get('concurrency_limit') ?? undefined, 'concurrency', max),
    rateLimit: parseLimit(i.form.get('rate_limit') ?? undefined, 'rate limit', max),
    groupConcurrencyLimit: parseLimit(
      i.form.get('group_concurrency_limit') ?? undefined,
      'per-group concurrency',
      max,
    ),
    groupRateLimit: parseLimit(i.form.get('group_rate_limit') ?? undefined, 'per-group rate', max),
    ...(window !== null && { rateWindowMs: window }),
  };
  const ok = await updateQueue({ db: i.db, schema: i.schema, name, ...settings });
  if (!ok) throw new HttpError(404, `no queue named ${name}`);
  await audit(i, 'queue.update_limits', { target: name, filter: settings, count: 1 });
  return { isOk: true, message: `Limits of queue ${name} saved.` };
};

const deadLettersReplaySelected: Action = async (i) => {
  const ids = selectedIds(i.form);
  let n = 0;
  for (const id of ids) {
    if (await replayDeadLetter({ db: i.db, schema: i.schema, id })) n += 1;
  }
  await audit(i, 'dead_letter.replay_selected', {
    ...(ids.length === 1 && { target: ids[0] }),
    filter: { ids },
    count: n,
  });
  return {
    isOk: n > 0,
    message: `Replayed ${plural(n, 'dead letter')} of ${ids.length} selected.`,
  };
};

const deadLettersReplayMatching: Action = async (i) => {
  const f = filterOf(i.form);
  const n = await replayDeadLetters({ db: i.db, schema: i.schema, ...f });
  await audit(i, 'dead_letter.replay_matching', { filter: filterJson(f), count: n });
  return { isOk: true, message: `Replayed ${plural(n, 'dead letter')} matching the filter.` };
};

const deadLettersPurgeMatching: Action = async (i) => {
  const f = filterOf(i.form);
  const n = await purgeDeadLetters({ db: i.db, schema: i.schema, ...f });
  await audit(i, 'dead_letter.purge_matching', { filter: filterJson(f), count: n });
  return { isOk: true, message: `Purged ${plural(n, 'dead letter')} matching the filter.` };
};

function scheduleSetEnabled(isEnabled: boolean): Action {
  return async (i) => {
    const name = parseName(i.param, 'schedule');
    const ok = await setScheduleEnabled({ db: i.db, schema: i.schema, name, isEnabled });
    if (!ok) throw new HttpError(404, `no schedule named ${name}`);
    await audit(i, isEnabled ? 'schedule.enable' : 'schedule.disable', { target: name, count: 1 });
    return { isOk: true, message: `Schedule ${name} ${isEnabled ? 'enabled' : 'disabled'}.` };
  };
}

const scheduleRun: Action = async (i) => {
  const name = parseName(i.param, 'schedule');
  const job = await runScheduleNow({ db: i.db, schema: i.schema, name });
  if (!job) throw new HttpError(404, `no schedule named ${name}`);
  await audit(i, 'schedule.run_now', { target: name, filter: { job: job.id }, count: 1 });
  return { isOk: true, message: `Schedule ${name} enqueued job ${job.id}.` };
};

/** The POST routes: path pattern (`:p` is the parameter) → action. */
export const ACTIONS: [pattern: string, action: Action][] = [
  ['/jobs/bulk', jobsBulk],
  ['/jobs/matching', jobsMatching],
  ['/jobs/:p/retry', jobRetry],
  ['/jobs/:p/cancel', jobCancel],
  ['/jobs/:p/replay', jobReplay],
  ['/queues/:p/pause', queueSetPaused(true)],
  ['/queues/:p/resume', queueSetPaused(false)],
  ['/queues/:p/limits', queueLimits],
  ['/dead-letters/replay', deadLettersReplaySelected],
  ['/dead-letters/replay-matching', deadLettersReplayMatching],
  ['/dead-letters/purge-matching', deadLettersPurgeMatching],
  ['/schedules/:p/enable', scheduleSetEnabled(true)],
  ['/schedules/:p/disable', scheduleSetEnabled(false)],
  ['/schedules/:p/run', scheduleRun],
];
