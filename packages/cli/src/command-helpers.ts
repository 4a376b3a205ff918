// Small pieces every command file uses.
import type { Command } from 'commander';
import type { GlobalOptions } from './connection.js';

/** The `Examples:` block shown after a command's `--help`. */
export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

/** The program-wide options (`--database-url`, `--schema`) as seen from a subcommand. */
export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/** A timestamp as `2025-01-31 12:00:00Z` for tables. */
export function shortTime(value: Date | string | null | undefined): string {
  if (value === null || value === undefined) return '-';
  const d = value instanceof Date ? value : new Date(value);
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}
