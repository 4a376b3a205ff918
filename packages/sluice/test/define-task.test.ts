import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { z as z3 } from 'zod/v3';
import { defineTask, InvalidOptionsError } from 'sluice';

describe('defineTask', () => {
  it('refuses a zod 3 schema, saying zod 4 is needed and how to import it', () => {
    const define = () => defineTask({ name: 'old', schema: z3.object({}) as never });
    expect(define).toThrow(InvalidOptionsError);
    expect(define).toThrow(/zod 3 schema: Sluice needs zod 4.*import \{ z \} from 'zod'/);
  });

  it('refuses what is not a schema at all', () => {
    expect(() => defineTask({ name: 'none', schema: {} as never })).toThrow(
      /schema must be a zod 4 schema/,
    );
  });

  it('takes a zod 4 schema', () => {
    expect(defineTask({ name: 'new', schema: z.object({ a: z.number() }) }).name).toBe('new');
  });
});
