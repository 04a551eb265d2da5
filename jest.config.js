// ESM mode: NestJS 12 and MikroORM 7 ship ESM only, so jest runs with
// NODE_OPTIONS=--experimental-vm-modules on Node >= 24.9 (docs/contributing.md, "Toolchain facts").
const base = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  testEnvironment: 'node',
};

// Suites on the real PostgreSQL and Redis start from a freshly migrated test
// database; unit specs touch neither, so they run without the setup.
const withServices = {
  ...base,
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
};

export default {
  // A global option: jest ignores testTimeout inside a project entry.
  testTimeout: 30_000,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    { ...withServices, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.spec.ts'] },
    { ...withServices, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'] },
    // The web page in Debian's Chromium against the built service (dist/, so after
    // `npm run build`); .ci/run installs the chromium package when it is missing.
    { ...withServices, displayName: 'browser', testMatch: ['<rootDir>/test/browser/**/*.browser-spec.ts'] },
    // Fault suites start and stop their own PostgreSQL and Redis, kill
    // processes and push a 50 000-row batch through: minutes, not seconds
    // (each test sets its own timeout). They run from `npm run test:faults`,
    // which sets the flag, not from `npm test`.
    ...(process.env.PIXBATCH_FAULT_TESTS
      ? [{ ...base, displayName: 'faults', testMatch: ['<rootDir>/test/faults/**/*.fault-spec.ts'] }]
      : []),
  ],
};
