// Plain-text output: aligned tables, key/value records and short durations.

/** Column alignment: numbers read best right-aligned. */
export type Align = 'left' | 'right';

/**
 * Renders rows under headers with columns padded to their widest cell.
 * @example formatTable(['QUEUE', 'READY'], [['mail', '3']], ['left', 'right'])
 */
export function formatTable(headers: string[], rows: string[][], align: Align[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        const w = widths[i] ?? 0;
        return align[i] === 'right' ? c.padStart(w) : c.padEnd(w);
      })
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** Formats seconds as `42s`, `3m04s`, `2h05m` or `3d04h`. */
export function formatAge(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400)
    return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor(s / 3600) % 24).padStart(2, '0')}h`;
}

/** A cell for a value of any type: dates as ISO, JSON as compact text, null as `-`. */
export function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? '-';
}

/** Renders an object as `key: value` lines, JSON values indented below their key. */
export function formatRecord(record: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  return Object.entries(record)
    .map(([k, v]) => {
      const label = `${k}:`.padEnd(width + 2);
      if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
        const json = JSON.stringify(v, null, 2);
        return json.includes('\n') ? `${label.trimEnd()}\n${indent(json)}` : `${label}${json}`;
      }
      return `${label}${cell(v)}`;
    })
    .join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

/** Prints data as indented JSON on stdout (the `--json` form of every command). */
export function printJson(data: unknown): void {
  process.stdout.write(JSON.stringify(data, null, 2) + '\n');
}
