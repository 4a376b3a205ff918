// The sluice/admin face: what operators' tools use (the CLI, the dashboard, metrics). Rows are
// camelCase objects, functions are named verb first, every one takes `{ db, schema? }`.
export {
  createQueue,
  updateQueue,
  pauseQueue,
  resumeQueue,
  getQueue,
  listQueues,
  cancelJob,
} from './queues.js';
export type { QueueSettings, QueueInfo } from './queues.js';
export { getJob } from '../client/job-status.js';
export type { JobInfo } from '../client/job-status.js';
export { listJobs, retryJob } from './jobs.js';
export { getJobLogs } from './job-logs.js';
export type { JobLogLine } from './job-logs.js';
export type { ListJobsFilter } from './jobs.js';
export {
  listDeadLetters,
  getDeadLetter,
  replayDeadLetter,
  replayDeadLetters,
  purgeDeadLetters,
} from './dead-letters.js';
export type { DeadLetterInfo } from './dead-letters.js';
export { getFlow, cancelFlow, replayFlow } from './flows.js';
export type { FlowInfo, FlowMember } from './flows.js';
export { listQueueStats, countCompletedSince } from './stats.js';
export type { QueueStats } from './stats.js';
export {
  listQueueCounts,
  countFinishedPerMinute,
  listWorkers,
  withTransaction,
} from './activity.js';
export type { QueueCounts, MinuteCounts, WorkerActivity } from './activity.js';
export { recordAudit, listAuditLog } from './audit.js';
export type { AuditEntry } from './audit.js';
export {
  listSchedules,
  getSchedule,
  unschedule,
  setScheduleEnabled,
  runScheduleNow,
} from '../scheduler/schedule.js';
export type { ScheduleInfo } from '../scheduler/schedule.js';
export { inspectSchema } from './doctor.js';
export type {
  InspectSchemaOptions,
  SchemaReport,
  SchemaProblem,
  SchemaProblemCode,
  WorkerStatus,
  LeaderStatus,
} from './doctor.js';
export {
  migrations,
  migrationScript,
  latestVersion,
  assertSchemaCurrent,
} from '../core/migrator.js';
export type { Migration } from '../core/migrator.js';
export { Maintenance } from '../maintenance/maintenance.js';
export type {
  MaintenanceConfig,
  MaintenanceEvents,
  MaintenanceRun,
} from '../maintenance/maintenance.js';
export { CronScheduler } from '../scheduler/cron-scheduler.js';
export type {
  CronSchedulerConfig,
  CronSchedulerEvents,
  CronPassSummary,
  ScheduleFiredEvent,
} from '../scheduler/cron-scheduler.js';
export type { LeaderService } from '../worker/leader.js';
export { assertName, assertSchemaName } from '../core/names.js';
export { waitForDatabase, isTransientConnectionError } from '../core/wait-for-database.js';
export type { WaitForDatabaseOptions, DatabaseAttempt } from '../core/wait-for-database.js';
export type { Target } from '../core/target.js';
