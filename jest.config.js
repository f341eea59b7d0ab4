/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '\\.(ts|tsx|js)$': '<rootDir>/test/support/esbuildTransform.js' },
  transformIgnorePatterns: ['/node_modules/(?!(jose|canonicalize|@noble)/)'],
  moduleNameMapper: {
    '^canonicalize$': '<rootDir>/node_modules/canonicalize/lib/canonicalize.js',
    '^jose$': '<rootDir>/node_modules/jose/dist/webapi/index.js',
  },
  reporters: ['default', '<rootDir>/test/support/summaryReporter.js'],
  testTimeout: 20000,
};
