// Three projects: `unit` (Node, tests beside the code), `workers` (inside workerd, the real Workers
// runtime with Durable Objects on SQLite) and `e2e` (the local stack: the Worker in Miniflare, real
// vm-service processes).
import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { decodeFrame } from "./core/frame.js";
import { writeRegistry } from "./scripts/gen-models.js";

// The Workers tests bundle worker/index.ts themselves (wrangler's [build] command does not run here), so
// the model registry is generated first, from every models/NAME/ folder.
writeRegistry();

export const TEST_ADMIN_TOKEN = "test-admin-token";
export const TEST_SIGNING_KEY = "test-signing-key";

/** A deep-stage answer for every row of the frame a fake VM was sent: one label and probabilities for all. */
async function answerFor(request: Request, label: number, probs: number[], ms = 1) {
  const rows = decodeFrame(new Uint8Array(await request.arrayBuffer())).header.shape[0];
  const results = Array.from({ length: rows }, (_, row) => ({ row, label, confidence: 1, exitStage: 2, probs }));
  return { results, timings: [{ stage: 1, rows, exits: 0, ms }] };
}

// The network edge for the workerd tests: fake VMs reached by the Worker's outbound fetch. Each host
// misbehaves in one way; vm-log.test reports how often each was called and with which headers.
const calls: Record<string, { n: number; signed: boolean; vm: string | null }> = {};
async function fakeVmEdge(request: Request): Promise<Response> {
  const host = new URL(request.url).hostname;
  if (host === "vm-log.test") return Response.json(calls);
  calls[host] = {
    n: (calls[host]?.n ?? 0) + 1,
    signed: /^[0-9a-f]{64}$/.test(request.headers.get("x-serflow-signature") ?? ""),
    vm: request.headers.get("x-serflow-vm"),
  };
  switch (host) {
    case "vm-down.test":
      throw new Error("connection refused");
    case "vm-slow.test":
      await new Promise((r) => setTimeout(r, 3_000));
      return Response.json({ results: [], timings: [] });
    case "vm-badsig.test":
      return Response.json({ error: "bad request signature" }, { status: 401 });
    case "vm-full.test":
      return Response.json({ error: "VM is full" }, { status: 503 });
    case "vm-garbage.test":
      return new Response("<html>proxy error</html>", { status: 200 });
    case "vm-liar.test":
      // Well-formed JSON of the right length with impossible values: label 99 of 10 classes, probabilities > 1.
      return Response.json(await answerFor(request, 99, Array(10).fill(5)));
    case "vm-boaster.test":
      // A right answer at once, claiming an hour of compute: the plan would size VMs from that time.
      return Response.json(await answerFor(request, 0, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0], 3_600_000));
    case "vm-padded.test": {
      // A right answer with an extra member holding an object of 100,000 (about 1 MB, under the frame limit).
      const pad = `{${Array.from({ length: 100_000 }, (_, i) => `"${i}":0`).join(",")}}`;
      const answer = JSON.stringify(await answerFor(request, 0, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
      return new Response(`${answer.slice(0, -1)},"pad":${pad}}`, { headers: { "content-type": "application/json" } });
    }
    case "vm-flood.test":
      // A right answer behind 9 MiB of JSON whitespace: past the frame limit, so not read to its end.
      return new Response(
        " ".repeat(9 * 2 ** 20) + JSON.stringify(await answerFor(request, 0, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
        {
          headers: { "content-type": "application/json" },
        },
      );
    default:
      return new Response("no route to host", { status: 502 });
  }
}

// Node tests beside the code; also the project Stryker mutates against (stryker.vitest.config.ts).
export const unitProject = {
  test: {
    name: "unit",
    include: [
      "core/**/*.test.ts",
      "sim/**/*.test.ts",
      "vm-service/**/*.test.ts",
      "scripts/**/*.test.ts",
      "model/**/*.test.ts",
      "bench/**/*.test.ts",
    ],
    environment: "node",
    // The slowest unit test takes ~3 s on a loaded 2-core machine; a loop fails its test instead of stalling the run.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    setupFiles: ["test/support/watchdog.ts"],
  },
};

export default defineConfig({
  test: {
    projects: [
      unitProject,
      {
        plugins: [
          cloudflareTest({
            main: "./index.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                SERFLOW_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
                SERFLOW_SIGNING_KEY: TEST_SIGNING_KEY,
                SERFLOW_CONFIG: "{}",
                SERFLOW_VM_TIMEOUT_MS: "300",
              },
              outboundService: fakeVmEdge as never,
            },
          }),
        ],
        test: { name: "workers", include: ["test/workers/**/*.test.ts"], testTimeout: 30_000, hookTimeout: 60_000 },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 180_000,
          hookTimeout: 120_000,
          setupFiles: ["test/support/watchdog.ts"],
          fileParallelism: false,
        },
      },
    ],
  },
});
