import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          setupFiles: ['./vitest.setup.ts'],
          include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts'],
          exclude: ['**/test/integration/**', '**/node_modules/**'],
          testTimeout: 30_000
        }
      },
      {
        test: {
          name: 'integration',
          setupFiles: ['./vitest.setup.ts'],
          include: ['packages/*/test/integration/**/*.test.ts', 'apps/*/test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000
        }
      }
    ]
  }
})
