// Private test helpers: real Postgres databases, waiting helpers and task factories.
export { startEmbeddedPostgres, freePort } from './embedded-postgres.js';
export type { RunningPostgres } from './embedded-postgres.js';
export { createTemplateDatabase, createTestDatabase, withDatabase } from './databases.js';
export type { TestDatabase } from './databases.js';
export { eventually } from './eventually.js';
export { spawnNode, killAllProcesses } from './processes.js';
export type { TestProcess } from './processes.js';
