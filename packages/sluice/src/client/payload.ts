// Turns a payload into the JSON text that is stored, or a typed error. Runs before any SQL so
// bad input never reaches (and never aborts) the caller's transaction.
import type { z } from 'zod';
import { InvalidPayloadError, type PayloadIssue } from '../core/errors.js';
import type { Task } from './define-task.js';

/** How deep a payload may nest (arrays and objects); jsonb itself gives up far deeper, with a raw error. */
export const MAX_DEPTH = 1000;

const LONE_SURROGATE = /\p{Cs}/u;

/** Why a string cannot be stored in jsonb or a text column, if it cannot. */
export function stringProblem(v: string): string | undefined {
  if (v.includes('\u0000')) return 'contains \\u0000, which Postgres cannot store';
  // With the u flag a valid pair is one code point: only a lone surrogate matches \p{Cs}.
  if (LONE_SURROGATE.test(v)) return 'contains a lone UTF-16 surrogate, which is not valid Unicode';
  return undefined;
}

function checkString(v: string, add: (message: string) => void): void {
  const problem = stringProblem(v);
  if (problem) add(`string ${problem}`);
}

/** Issues that make `value` lossy or impossible to store as jsonb; empty when it is fine. */
export function jsonIssues(value: unknown): PayloadIssue[] {
  const issues: PayloadIssue[] = [];
  const seen = new Set<object>();
  // One path stack for the whole walk, copied only when an issue is found: this runs for every
  // payload of a bulk enqueue, and a fresh path array per value was most of its cost.
  const path: (string | number)[] = [];
  const add = (message: string): void => {
    issues.push({ path: [...path], message, code: 'not_json' });
  };
  const walk = (v: unknown, isRoot: boolean): void => {
    if (issues.length >= 20) return;
    switch (typeof v) {
      case 'string':
        // jsonb rejects \u0000 and lone surrogates, and the error would abort the caller's
        // transaction.
        checkString(v, add);
        return;
      case 'number':
        if (!Number.isFinite(v)) add(`${v} is not representable in JSON`);
        return;
      case 'boolean':
        return;
      case 'bigint':
        add('bigint is not JSON-serialisable; pass a string');
        return;
      case 'undefined':
        if (isRoot) add('payload is undefined');
        return;
      case 'function':
      case 'symbol':
        add(`${typeof v} is not JSON-serialisable`);
        return;
      case 'object': {
        if (v === null) return;
        if (seen.has(v)) {
          add('circular reference');
          return;
        }
        if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return;
        // Deeper values overflow the stack here, in JSON.stringify and in Postgres' parser.
        if (path.length >= MAX_DEPTH) {
          add(`nested deeper than ${MAX_DEPTH} levels`);
          return;
        }
        seen.add(v);
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) {
            path.push(i);
            walk(v[i], false);
            path.pop();
          }
        } else {
          const proto = Object.getPrototypeOf(v) as unknown;
          if (proto !== Object.prototype && proto !== null) {
            add(`${v.constructor?.name ?? 'object'} is not a plain object`);
          } else {
            for (const k in v) {
              if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
              path.push(k);
              checkString(k, (message) => add(`key: ${message}`));
              walk((v as Record<string, unknown>)[k], false);
              path.pop();
            }
          }
        }
        seen.delete(v);
        return;
      }
    }
  };
  walk(value, true);
  return issues;
}

/** Validates `payload` against the task's schema and returns its JSON text. */
export function serializePayload<S extends z.ZodType>(task: Task<S>, payload: unknown): string {
  // Checked first: a schema walking a value nested 100,000 deep would overflow the stack.
  const issues = jsonIssues(payload);
  if (issues.length > 0) throw new InvalidPayloadError(task.name, issues);
  const parsed = task.schema.safeParse(payload);
  if (!parsed.success) {
    throw new InvalidPayloadError(
      task.name,
      parsed.error.issues.map((i) => ({
        path: i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)),
        message: i.message,
        code: i.code,
      })),
      { cause: parsed.error },
    );
  }
  // The input (not the parsed output) is stored: the worker parses it again, and transforms
  // need not be idempotent.
  return JSON.stringify(payload ?? null);
}
