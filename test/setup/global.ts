// Starts one Postgres per test run (DATABASE_URL if given, else embedded) and migrates a template
// database that every test file clones.
import { tmpdir } from 'node:os';
import { rmSync } from 'node:fs';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import {
  createTemplateDatabase,
  startEmbeddedPostgres,
  type RunningPostgres,
} from '@sluice/testkit';

import './provided.js';

let embedded: RunningPostgres | undefined;

export default async function setup(project: TestProject) {
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    const dataDir = `${tmpdir()}/sluice-test-pg-${process.pid}`;
    rmSync(dataDir, { recursive: true, force: true });
    // fsync off: test data is disposable, and it keeps the suite fast on a 2-core machine.
    embedded = await startEmbeddedPostgres({
      dataDir,
      flags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'max_connections=300'],
    });
    serverUrl = embedded.url;
  }
  const templateName = `sluice_template_${process.pid}`;
  await createTemplateDatabase(serverUrl, templateName);
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  const { rows } = await client.query<{ v: string }>('SELECT current_setting($1) AS v', [
    'server_version',
  ]);
  await client.end();
  const serverVersion = rows[0]?.v ?? '?';
  console.log(`sluice tests on PostgreSQL ${serverVersion}${embedded ? ' (embedded)' : ''}`);
  project.provide('serverUrl', serverUrl);
  project.provide('templateName', templateName);
  project.provide('serverVersion', serverVersion);

  return async () => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS "${templateName}" WITH (FORCE)`);
    await c.end();
    if (embedded) {
      await embedded.stop();
      rmSync(embedded.dataDir, { recursive: true, force: true });
    }
  };
}
