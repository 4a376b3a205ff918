// The one column list of each row move, so completion, cancellation, dead-lettering and rescue
// cannot drift apart (a column added to sluice.job is added here once). The SQL functions of
// migrations/ (cancel_job, replay_dead_letter(s)) carry their own lists, written once per
// migration that changes them.

/** What a job keeps when it moves to job_history; state, outcome and started_at are the mover's. */
const KEPT_IN_HISTORY = [
  'id',
  'queue',
  'task',
  'payload',
  'priority',
  'run_at',
  'attempt',
  'max_attempts',
  'unique_key',
  'group_key',
  'worker_id',
  'progress',
  'errors',
  'created_at',
  'flow_id',
  'has_dependents',
  'run_options',
  'trace_context',
];

/** What a job keeps when it moves to dead_letter: the same, but no worker, and errors are the mover's. */
const KEPT_IN_DEAD_LETTER = KEPT_IN_HISTORY.filter((c) => c !== 'worker_id' && c !== 'errors');

/** The job_history columns a move fills from the job row. */
export const HISTORY_KEPT_COLUMNS = KEPT_IN_HISTORY.join(', ');
/** The dead_letter columns a move fills from the job row. */
export const DEAD_LETTER_KEPT_COLUMNS = KEPT_IN_DEAD_LETTER.join(', ');

/** The job row's values for {@link HISTORY_KEPT_COLUMNS}, from the row called `alias`. */
export function historyKeptValues(alias: string): string {
  return KEPT_IN_HISTORY.map((c) => `${alias}.${c}`).join(', ');
}

/** The job row's values for {@link DEAD_LETTER_KEPT_COLUMNS}, from the row called `alias`. */
export function deadLetterKeptValues(alias: string): string {
  return KEPT_IN_DEAD_LETTER.map((c) => `${alias}.${c}`).join(', ');
}
