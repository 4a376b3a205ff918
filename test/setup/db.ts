// Per-file database: `const db = useTestDatabase()` inside a describe block or at top level.
import { afterAll, beforeAll, inject } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@sluice/testkit';
import './provided.js';

/** The server URL of this run (an admin connection to database `postgres`). */
export function serverUrl(): string {
  return inject('serverUrl');
}

/** A migrated database of this file's own, dropped after the file's tests. */
export function useTestDatabase(): { readonly current: TestDatabase } {
  const ref = { current: undefined as unknown as TestDatabase };
  beforeAll(async () => {
    ref.current = await createTestDatabase(inject('serverUrl'), inject('templateName'));
  });
  afterAll(async () => {
    await ref.current?.drop();
  });
  return ref;
}
