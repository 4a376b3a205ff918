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
export { waitForDatabase, isTransientConnectionError } from './wait-for-database.js';
export type { WaitForDatabaseOptions, DatabaseAttempt } from './wait-for-database.js';
export type * from './types.js';
export { createWorker, Worker } from './worker/worker.js';
export { handleSignals } from './worker/signals.js';
export type { JobEvent } from './worker/worker.js';
export type { WorkerOptions } from './worker/worker-options.js';
export type { LeaderService } from './worker/leader.js';
export { createLogger } from './worker/logger.js';
export { snooze, cancel } from './job-directive.js';
export { getJob, waitForJob } from './job-status.js';
export type { JobInfo } from './job-status.js';
export { doneChannel } from './names.js';
export { listenJobEvents, JobEvents } from './job-events.js';
export type { JobEventInfo } from './job-events.js';
export {
  schedule,
  unschedule,
  setScheduleEnabled,
  listSchedules,
  getSchedule,
  runScheduleNow,
} from './scheduler/schedule.js';
export type { ScheduleOptions, ScheduleRow } from './scheduler/schedule.js';
export { CronScheduler } from './scheduler/cron-scheduler.js';
export type {
  CronSchedulerConfig,
  CronSchedulerEvents,
  CronPassSummary,
  ScheduleFiredEvent,
  PartDeps,
} from './scheduler/cron-scheduler.js';
export { planTicks } from './scheduler/plan-ticks.js';
export type { MissedPolicy, TickPlan, TickPlanInput } from './scheduler/plan-ticks.js';
export { nextTick, canonicalTimezone } from './scheduler/next-tick.js';
export { InvalidCronError, InvalidTimezoneError } from './scheduler/schedule-errors.js';
export { Maintenance } from './maintenance/maintenance.js';
export type {
  MaintenanceConfig,
  MaintenanceEvents,
  MaintenanceRun,
} from './maintenance/maintenance.js';
export { inspectSchema } from './doctor.js';
export type {
  InspectSchemaOptions,
  SchemaReport,
  SchemaProblem,
  SchemaProblemCode,
  WorkerStatus,
  LeaderStatus,
} from './doctor.js';
