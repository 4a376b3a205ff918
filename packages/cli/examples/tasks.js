// An example tasks module for `sluice work --tasks`, mounted as /app/tasks.js by
// docker-compose.yml unless SLUICE_TASKS names your own. It exports its tasks with handlers.
import { defineTask } from 'sluice';
import { z } from 'zod';

/** Logs the email it would send; replace with your own tasks. */
export const sendEmail = defineTask({
  name: 'send-email',
  schema: z.object({ to: z.string(), subject: z.string().optional() }),
}).handle(async (payload, ctx) => {
  ctx.logger.info({ jobId: ctx.job.id }, 'sending email');
  return { sentAt: new Date().toISOString() };
});

export default [sendEmail];
