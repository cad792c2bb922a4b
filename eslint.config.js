import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import globals from 'globals'

// The kernel's determinism contract, enforced by path (Temporal scopes rules the same way).
const nondeterminism = {
  'no-restricted-globals': ['error',
    { name: 'setTimeout', message: 'The kernel has no timers: time is the virtual clock component.' },
    { name: 'setInterval', message: 'The kernel has no timers: time is the virtual clock component.' },
    { name: 'performance', message: 'The kernel never reads wall time.' }
  ],
  'no-restricted-properties': ['error',
    { object: 'Date', property: 'now', message: 'The kernel never reads wall time: use the Clock component.' },
    { object: 'Math', property: 'random', message: 'The kernel never uses unseeded randomness: use the Rng component.' },
    { object: 'crypto', property: 'randomUUID', message: 'The kernel never uses unseeded randomness: use the Rng component.' }
  ],
  'no-restricted-syntax': ['error',
    { selector: "NewExpression[callee.name='Date']", message: 'The kernel never reads wall time: use the Clock component.' }
  ],
  'no-restricted-imports': ['error', {
    patterns: [
      { group: ['node:fs', 'node:fs/*', 'fs', 'node:net', 'node:child_process', 'node:worker_threads'], message: 'The kernel core has no I/O of its own: storage arrives as a port (see packages/kernel/node/ for the Node adapters).' },
      { group: ['@os2/*/src/*'], message: 'Import packages through their public entry points.' }
    ]
  }]
}

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '.turbo/**', '**/.os2/**', '**/.scratch/**', '**/.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off'
    }
  },
  {
    files: ['packages/*/src/**/*.ts', 'packages/kernel/node/**/*.ts'],
    rules: { 'no-console': 'error' }
  },
  {
    files: ['packages/kernel/src/**/*.ts'],
    rules: nondeterminism
  }
)
