// Where a syntax error in a tasks module is. Node 20's import() reports an ES module's syntax
// error with no file or line (only a CommonJS one carries `file:line` in its stack), so the module
// and the relative imports under it are checked with `node --check`, which parses and runs nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A syntax error's place, `file:line:column`, and Node's message for it. */
export interface SyntaxErrorPlace {
  where: string;
  message: string;
}

const MAX_FILES = 100;

// The first stack line of a CommonJS (or entry-point) syntax error: `/path/file.js:3`.
function fromStack(err: Error): SyntaxErrorPlace | undefined {
  const m = /^((?:file:\/\/|\/)[^\n]*):(\d+)\n[^\n]*\n( *)\^/.exec(err.stack ?? '');
  if (!m) return undefined;
  const file = m[1]!.startsWith('file:') ? fileURLToPath(m[1]!) : m[1]!;
  return { where: `${file}:${m[2]}:${m[3]!.length + 1}`, message: err.message };
}

// `node --check` of one file as an ES module (CommonJS for .cjs), from stdin: on Node 20 a .js
// file outside a "type": "module" package passes --check whatever its ESM syntax.
function check(file: string): SyntaxErrorPlace | undefined {
  const args = extname(file) === '.cjs' ? ['--check'] : ['--check', '--input-type=module'];
  const run = spawnSync(process.execPath, args, {
    input: readFileSync(file),
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (run.status === 0) return undefined;
  const m = /^\[stdin\]:(\d+)\n[^\n]*\n( *)\^/.exec(run.stderr);
  const message = /^SyntaxError: (.*)$/m.exec(run.stderr)?.[1];
  if (!m || message === undefined) return undefined;
  return { where: `${file}:${m[1]}:${m[2]!.length + 1}`, message };
}

// Relative specifiers of static imports and re-exports; a regex is enough to find files to check.
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found = text.matchAll(/(?:\bfrom\s*|\bimport\s*)['"](\.\.?\/[^'"]+)['"]/g);
  return [...found]
    .map((m) => resolve(dirname(file), m[1]!))
    .filter((f) => /\.(c|m)?js$/.test(f) && existsSync(f));
}

/**
 * The place of `err` (a SyntaxError from importing `entry`), looked up in its stack, then by
 * checking `entry` and the modules it imports relatively; undefined if none of them has it.
 * @example const place = locateSyntaxError('/app/tasks.js', err); // { where: '/app/tasks.js:3:7', … }
 */
export function locateSyntaxError(entry: string, err: Error): SyntaxErrorPlace | undefined {
  const stacked = fromStack(err);
  if (stacked) return stacked;
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0 && seen.size < MAX_FILES) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const place = check(file);
    if (place) return place;
    queue.push(...relativeImports(file));
  }
  return undefined;
}
