// Two jest projects: `unit` (pure logic, *.spec.ts) and `int` (*.int-spec.ts, real Postgres,
// NATS JetStream, nmap). TypeScript is transformed by swc with decorator metadata so Nest DI
// works in tests exactly as at run time. Library aliases come from tsconfig.base.json.
const { compilerOptions } = require('./tsconfig.base.json');

const moduleNameMapper = Object.fromEntries(
  Object.entries(compilerOptions.paths).map(([alias, [target]]) => [
    `^${alias.replace('/', '\\/')}$`,
    `<rootDir>/${target.replace(/^\.\//, '')}`,
  ]),
);

const transform = {
  '^.+\\.(t|j)s$': [
    '@swc/jest',
    {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
      },
      module: { type: 'commonjs' },
    },
  ],
};

const common = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform,
  moduleNameMapper,
  roots: ['<rootDir>/apps', '<rootDir>/libs'],
};

module.exports = {
  // One test file at a time: the integration tests share one NATS server, where the hub's
  // durable consumers (e.g. the comparer's) are shared by name, so two hubs under test at once
  // would take each other's messages. Each test file uses its own database.
  maxWorkers: 1,
  reporters: ['default', '<rootDir>/tools/jest/summary.reporter.js'],
  projects: [
    { ...common, displayName: 'unit', testMatch: ['**/*.spec.ts'] },
    {
      ...common,
      displayName: 'int',
      testMatch: ['**/*.int-spec.ts'],
      slowTestThreshold: 30,
    },
  ],
};
