// Rows come back from Postgres snake_case; the faces hand them out camelCase. One mapping, so
// each face's row type only has to be declared, not copied field by field.

type CamelKey<S extends string> = S extends `${infer H}_${infer T}`
  ? `${H}${Capitalize<CamelKey<T>>}`
  : S;

/** `T` with every snake_case key camelCased (`max_attempts` → `maxAttempts`). */
export type Camelized<T> = { [K in keyof T as K extends string ? CamelKey<K> : K]: T[K] };

/** A copy of `row` with camelCase keys; values are untouched. */
export function camelRow<T extends object>(row: T): Camelized<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    out[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  }
  return out as Camelized<T>;
}
