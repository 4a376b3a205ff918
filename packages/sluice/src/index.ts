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
export { jobChannel, cancelChannel } from './names.js';
export * from './errors.js';
export type * from './types.js';
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
