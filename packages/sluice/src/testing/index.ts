// The sluice/testing face: helpers for users' own tests. Nothing here is used by the engine.
export { drainQueue } from './drain.js';
export type { DrainOptions, DrainResult } from './drain.js';
export { assertEnqueued, refuteEnqueued, enqueuedJobs } from './assertions.js';
export type { EnqueuedQuery, EnqueuedJobInfo } from './assertions.js';
