// Mutation testing of the runtime-free core (and the vm-service code the Node tests reach): `npm run mutate`.
// Not part of `npm test`: a full run takes long on a 2-core machine (README, "Mutation testing").
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  // The `unit` project only (workerd and e2e tests are not run per mutant).
  vitest: { configFile: "stryker.vitest.config.ts", related: true },
  coverageAnalysis: "perTest",
  mutate: [
    "core/**/*.ts",
    "!core/**/*.test.ts",
    "!core/fixtures.ts",
    // Reached by vm-service/server.test.ts. durable-objects/ and worker/ only run inside workerd, which
    // Stryker's vitest runner cannot drive (the workers project), so they are not mutated.
    "vm-service/server.ts",
    "vm-service/models.ts",
    "vm-service/hashes.ts",
  ],
  // Static mutants (module-level constants and defaults) need every related test re-run in a fresh module
  // graph: 544 of 2,876 mutants took about half the time. They are left out (reported as "Ignored");
  // `npx stryker run --ignoreStatic false` includes them.
  ignoreStatic: true,
  // One test runner: the machine's 2 cores are shared with other sessions' simulations, and the README's
  // figures are from runs at concurrency 1 (`--concurrency 2` on an idle machine was not measured).
  concurrency: 1,
  // A mutant whose tests run past (dry-run time x 1.5 + 5 s) is killed and counted as "Timeout" (a loop).
  timeoutMS: 5_000,
  timeoutFactor: 1.5,
  // Re-runs test only the mutants whose code or covering tests changed since the last run.
  incremental: true,
  incrementalFile: "reports/stryker-incremental.json",
  reporters: ["html", "json", "clear-text", "progress"],
  htmlReporter: { fileName: "reports/mutation/index.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
  thresholds: { high: 85, low: 70, break: null },
};
