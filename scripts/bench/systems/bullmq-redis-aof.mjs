// BullMQ 6, redis-aof: see bullmq-common.mjs.
import { makeAdapter } from './bullmq-common.mjs';

const a = makeAdapter({ name: 'bullmq-redis-aof', kind: 'redis-aof' });
export const { name, producerVariants, workerVariants, workerUnavailable } = a;
export const { install, openProducer, unfinished, stored, prepareWorker, flows } = a;
