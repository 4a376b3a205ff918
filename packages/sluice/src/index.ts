// Public surface of the sluice package.
export { defineTask } from './define-task.js';
export type { Task, TaskOptions, TaskHandler, JobContext, Logger } from './define-task.js';
export { enqueue, enqueueMany } from './enqueue.js';
export type { JobOptions, EnqueueTarget, EnqueuedJob, BulkJob } from './enqueue.js';
export {
  createQueue,
  updateQueue,
  pauseQueue,
  resumeQueue,
  getQueue,
  listQueues,
  cancelJob,
} from './queues.js';
export type { QueueSettings, QueueRow } from './queues.js';
export {
  migrate,
  migrations,
  migrationScript,
  latestVersion,
  assertSchemaCurrent,
} from './migrator.js';
export type { Migration, MigrateOptions } from './migrator.js';
export { backoffDelay } from './retry-policy.js';
export type { RetryPolicy } from './retry-policy.js';
export type { DbTarget, PgQueryable } from './db.js';
export { jobChannel, cancelChannel, assertName, assertSchemaName } from './names.js';
export {
  queueStatsList,
  jobHistoryCountCompletedSince,
  jobList,
  jobGet,
  jobRetry,
  deadLetterList,
  deadLetterGet,
  deadLetterReplay,
  deadLetterReplayMany,
  deadLetterPurge,
} from './queries/admin.js';
export type { AdminTarget, QueueStats, JobRow, DeadLetterRow } from './queries/admin.js';
export * from './errors.js';
export type * from './types.js';
