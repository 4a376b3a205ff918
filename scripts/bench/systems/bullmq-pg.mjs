// BullMQ 6, pg: see bullmq-common.mjs.
import { makeAdapter } from './bullmq-common.mjs';

const a = makeAdapter({ name: 'bullmq-pg', kind: 'pg' });
export const { name, producerVariants, workerVariants, workerUnavailable } = a;
export const { install, openProducer, unfinished, stored, prepareWorker, flows } = a;
