// What every long-running part (cron scheduler, maintenance, a leader service) is given.
import type pg from 'pg';
import type { Logger } from './logger.js';

/** What every long-running part is given. */
export interface ServiceDeps {
  pool: pg.Pool;
  /** Schema Sluice was migrated into. */
  schema: string;
  logger: Logger;
}
