// Stryker runs part of the `unit` project only: the tests beside the mutated code (core/, vm-service/).
// The workerd and e2e projects start runtimes and processes a mutant run cannot afford (and Stryker's
// vitest runner has no project filter); sim/, model/, scripts/ and bench/ tests reach core/ only on their
// way to their own code, and would make every mutant run cost seconds more.
import { defineConfig } from "vitest/config";
import { unitProject } from "./vitest.config.js";

export default defineConfig({
  test: {
    projects: [
      {
        ...unitProject,
        test: {
          ...unitProject.test,
          include: ["core/**/*.test.ts", "vm-service/**/*.test.ts"],
          // Instrumented code (every mutant behind a switch, coverage counted per test) runs many times
          // slower in hot loops. A looping mutant is stopped by Stryker's own limit instead (its tests'
          // dry-run time x 1.5 + 5 s), which kills the runner process and reports the mutant "Timeout";
          // the watchdog would kill Stryker's runner itself (it runs tests in threads), so it is off here.
          testTimeout: 300_000,
          hookTimeout: 300_000,
          setupFiles: [],
        },
      },
    ],
  },
});
