// BullMQ 6, redis: see bullmq-common.mjs.
import { makeAdapter } from './bullmq-common.mjs';

const a = makeAdapter({ name: 'bullmq-redis', kind: 'redis' });
export const { name, producerVariants, workerVariants, workerUnavailable } = a;
export const { install, openProducer, unfinished, stored, prepareWorker, flows } = a;
