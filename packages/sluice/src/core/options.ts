// The one options parser: every public entry point checks its options with a zod schema here,
// so bad input is always an InvalidOptionsError naming what was checked and every problem.
import { z } from 'zod';
import { InvalidOptionsError } from './errors.js';

/** Parses `input` with `schema` (defaults filled in), or throws InvalidOptionsError(`what`). */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  what: string,
  input: unknown,
): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new InvalidOptionsError(what, z.prettifyError(parsed.error), { cause: parsed.error });
  }
  return parsed.data;
}
