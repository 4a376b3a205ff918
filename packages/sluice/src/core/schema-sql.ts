// Statements are written against the default schema name `sluice`; this rewrites them for a
// configured schema. The schema is marked by position, not by any whole word `sluice`: a
// qualified name (`sluice.job`), a quoted literal (`'sluice'`, as format()'s %I argument), a
// NOTIFY channel prefix (`'sluice:job'`) and the schema statement (`CREATE SCHEMA … sluice`).
// Prose such as "run sluice migrate" in messages and comments is left as written. The schema
// name is validated by assertSchemaName before it gets here.
const MARKED =
  /\bsluice(?=\.[a-z_])|(?<=')sluice(?=['.:])|(?<=\bSCHEMA (?:IF NOT EXISTS )?)sluice\b/g;
const cache = new Map<string, string>();

/** Returns `text` with its marked schema name `sluice` replaced by `schema` (memoised). */
export function inSchema(text: string, schema: string): string {
  if (schema === 'sluice') return text;
  const key = `${schema}\u0000${text}`;
  let out = cache.get(key);
  if (out === undefined) {
    out = text.replace(MARKED, schema);
    cache.set(key, out);
  }
  return out;
}
