// ESLint flat config (kept under scripts/ so the repo's top level stays as designed).
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const root = fileURLToPath(new URL('..', import.meta.url));

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      '.sluice/**',
      'packages/sluice/migrations/**',
      '**/*.mjs',
      '**/*.js',
      '**/*.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: root },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/only-throw-error': 'off',
    },
  },
  {
    // Layering: the engine never imports a face (faces are built on it, not the other way
    // round), only the notifier imports the LISTEN client, and only queries/ write SQL.
    files: ['packages/sluice/src/**/*.ts'],
    ignores: [
      'packages/sluice/src/index.ts',
      'packages/sluice/src/admin/**',
      'packages/sluice/src/testing/**',
      'packages/sluice/src/worker/notifier.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'pg-listen', message: 'only worker/notifier.ts uses pg-listen' }],
          patterns: [
            {
              regex: '(^|/)(index|admin/index|testing/index)\\.js$|/admin/|/testing/',
              message: 'the engine does not import the faces (index.ts, admin/, testing/)',
            },
          ],
        },
      ],
    },
  },
  {
    // Only queries/ and the migrator write SQL: statements elsewhere in the library are a sign
    // that a query module is missing.
    files: ['packages/sluice/src/**/*.ts'],
    ignores: ['packages/sluice/src/queries/**', 'packages/sluice/src/core/migrator.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'TemplateElement[value.raw=/\\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|LISTEN|ANALYZE)\\s/]',
          message: 'SQL lives in queries/ (or the migrator)',
        },
        {
          selector: 'Literal[value=/\\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|LISTEN|ANALYZE)\\s/]',
          message: 'SQL lives in queries/ (or the migrator)',
        },
      ],
    },
  },
  {
    files: ['packages/sluice/src/worker/notifier.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '(^|/)index\\.js$|/admin/|/testing/', message: 'no face imports' }] },
      ],
    },
  },
  {
    // The CLI (and the dashboard) use only the two faces, never the library's files.
    files: ['packages/cli/src/**/*.ts', 'packages/dashboard/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^sluice/(?!admin$|metrics$)|packages/sluice|^\\.\\./\\.\\./sluice',
              message: "the CLI imports only 'sluice', 'sluice/admin' and 'sluice/metrics'",
            },
          ],
        },
      ],
    },
  },
  {
    // The dashboard has no SQL of its own: what it reads and does goes through sluice/admin.
    files: ['packages/dashboard/src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'TemplateElement[value.raw=/\\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|BEGIN|SET)\\s/]',
          message: 'the dashboard uses sluice/admin, not SQL',
        },
        {
          selector: 'Literal[value=/\\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|BEGIN|SET)\\s/]',
          message: 'the dashboard uses sluice/admin, not SQL',
        },
      ],
    },
  },
  {
    files: ['**/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
