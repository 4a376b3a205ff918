// The sluice face: what an application uses to define tasks, enqueue (in its own transaction),
// run workers and follow its jobs. Operators' tools use sluice/admin; users' tests
// sluice/testing. Nothing else is exported.
export { defineTask } from './client/define-task.js';
export type {
  Task,
  TaskOptions,
  TaskHandler,
  JobContext,
  DependencyResult,
} from './client/define-task.js';
export { flow, chain, chord, tree, step, Flow, MAX_FLOW_MEMBERS } from './flows/flow.js';
export type {
  FlowJob,
  FlowJobOptions,
  FlowStep,
  TreeNode,
  Dependency,
  OnFailure,
  EnqueuedFlow,
} from './flows/flow.js';
export type { Logger } from './core/logger.js';
export { enqueue, enqueueMany } from './client/enqueue.js';
export type { JobOptions, EnqueuedJob, BulkJob } from './client/enqueue.js';
export type { Target } from './core/target.js';
export type { DbTarget, PgQueryable } from './core/db.js';
export { fromKnex, fromDrizzle } from './client/adapters.js';
export type { RetryPolicy } from './client/retry-policy.js';
export { snooze, cancel } from './client/job-directive.js';
export { cancelJob } from './admin/queues.js';
export { cancelFlow } from './admin/flows.js';
export { getJob, waitForJob } from './client/job-status.js';
export type { JobInfo } from './client/job-status.js';
export { listenJobEvents, JobEvents } from './client/job-events.js';
export type { JobEventInfo, JobEventName, JobEventsOptions } from './client/job-events.js';
export { createWorker, Worker } from './worker/worker.js';
export { createClusterRouter, ClusterRouter } from './client/cluster-router.js';
export type { ClusterRouterOptions, RoutedJob } from './client/cluster-router.js';
export { createClusterWorkers, ClusterWorkers } from './worker/cluster-workers.js';
export type { ClusterWorkersOptions } from './worker/cluster-workers.js';
export type { JobEvent, JobActiveEvent, JobRescuedEvent, WorkerEvents } from './worker/events.js';
export type { WorkerOptions } from './worker/worker-options.js';
export { handleSignals } from './worker/signals.js';
export { createLogger } from './worker/logger.js';
export { schedule, unschedule } from './scheduler/schedule.js';
export type { ScheduleOptions, ScheduleInfo } from './scheduler/schedule.js';
export type { MissedPolicy } from './scheduler/plan-ticks.js';
export { migrate } from './core/migrator.js';
export type { MigrateOptions } from './core/migrator.js';
export * from './core/errors.js';
export { InvalidCronError, InvalidTimezoneError } from './scheduler/schedule-errors.js';
export type {
  Timestamp,
  Json,
  ActiveJobState,
  FinishedJobState,
  JobState,
  QueueTable,
  JobTable,
  TraceCarrier,
  JobHistoryTable,
  DeadLetterTable,
  ScheduleTable,
  WorkerTable,
  WorkerWaitingTable,
  EventListenerTable,
  LeaderTable,
  QueueRateTable,
  AuditTable,
  HistoryPartitionsView,
  MigrationTable,
  QueueStatsView,
  AllJobsView,
  JobDependencyTable,
  JobLogTable,
  FlowMembersView,
  SluiceDatabase,
} from './core/types.js';
