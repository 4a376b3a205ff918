// Statements are written against the default schema name `sluice`; this rewrites them for a
// configured schema. The schema name is validated by assertSchemaName before it gets here.
const cache = new Map<string, string>();

/** Returns `text` with every whole word `sluice` replaced by `schema` (memoised). */
export function inSchema(text: string, schema: string): string {
  if (schema === 'sluice') return text;
  const key = `${schema}\u0000${text}`;
  let out = cache.get(key);
  if (out === undefined) {
    out = text.replace(/\bsluice\b/g, schema);
    cache.set(key, out);
  }
  return out;
}
