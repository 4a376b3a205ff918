// Copies the repo's migrations/ into packages/sluice/migrations so the built package ships them.
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const from = fileURLToPath(new URL('../migrations/', import.meta.url));
const to = fileURLToPath(new URL('../packages/sluice/migrations/', import.meta.url));
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
