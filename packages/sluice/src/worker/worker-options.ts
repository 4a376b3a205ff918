// Options of createWorker, validated at the boundary with their defaults.
import { z } from 'zod';
import type { Task } from '../define-task.js';
import type { Logger } from '../logger.js';
import type { LeaderService } from './leader.js';

export const workerOptionsSchema = z
  .object({
    db: z.union([z.string().min(1), z.record(z.string(), z.unknown())]),
    tasks: z
      .array(z.custom<Task>((t) => typeof t === 'object' && t !== null && 'name' in t))
      .min(1),
    queues: z.array(z.string()).min(1).optional(),
    concurrency: z.number().int().min(1).max(10_000).default(10),
    bufferSize: z.number().int().min(0).optional(),
    schema: z.string().default('sluice'),
    pollIntervalMs: z.number().int().min(10).default(1000),
    leaseMs: z.number().int().min(100).default(30_000),
    heartbeatIntervalMs: z.number().int().min(10).optional(),
    rescueIntervalMs: z.number().int().min(10).optional(),
    rescueBackoffMs: z.number().int().min(0).default(1000),
    isListenEnabled: z.boolean().default(true),
    isLeaderEligible: z.boolean().default(true),
    livenessIntervalMs: z.number().int().min(100).default(30_000),
    graceMs: z.number().int().min(0).default(25_000),
    logger: z.custom<Logger>((l) => typeof l === 'object' && l !== null).optional(),
    /** Runs the cron scheduler and maintenance when this worker is the leader. Default true. */
    isMaintenanceEnabled: z.boolean().default(true),
    leaderServices: z.array(z.custom<LeaderService>()).default([]),
  })
  .strict();

/** Options of {@link createWorker}; see the README for every default. */
export type WorkerOptions = z.input<typeof workerOptionsSchema>;
