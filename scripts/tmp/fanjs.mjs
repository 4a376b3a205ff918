import { z } from 'zod';
import { defineTask, flow } from '../../packages/sluice/dist/index.js';
const child = defineTask({ name: 'c', schema: z.object({ n: z.number() }) });
const parent = defineTask({ name: 'p', schema: z.object({}) });
for (let r = 0; r < 3; r++) {
  const t = performance.now();
  const f = flow();
  const kids = Array.from({ length: 10000 }, (_, n) => f.add(child, { n }));
  f.add(parent, {}, { dependsOn: kids });
  console.log('build', (performance.now() - t).toFixed(0), 'ms');
}
