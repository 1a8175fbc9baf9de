// Three projects: `unit` (Node, tests beside the code), `workers` (inside workerd, the real Workers
// runtime with Durable Objects on SQLite) and `e2e` (real wrangler dev + real vm-service processes).
import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";

export const TEST_ADMIN_TOKEN = "test-admin-token";
export const TEST_SIGNING_KEY = "test-signing-key";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["core/**/*.test.ts", "sim/**/*.test.ts", "vm-service/**/*.test.ts", "scripts/**/*.test.ts", "model/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        plugins: [
          cloudflareTest({
            main: "./worker/index.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: { SERFLOW_ADMIN_TOKEN: TEST_ADMIN_TOKEN, SERFLOW_SIGNING_KEY: TEST_SIGNING_KEY, SERFLOW_CONFIG: "{}" },
            },
          }),
        ],
        test: { name: "workers", include: ["test/workers/**/*.test.ts"], testTimeout: 30_000 },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 180_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
