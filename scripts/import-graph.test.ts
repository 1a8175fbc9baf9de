import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { cycles, importsOf, repoGraph, violations } from "./import-graph.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const edge = (from: string, to: string) => ({ from, to });

describe("import graph", () => {
  it("the repository has no cycle and no import against the layers", () => {
    const { edges, packages } = repoGraph(ROOT);
    expect(edges.length).toBeGreaterThan(100);
    expect(violations(edges, packages)).toEqual([]);
  });

  it("flags an adapter importing a sibling adapter, a layer importing upwards and a runtime in core/", () => {
    const bad = violations(
      [
        edge("vm-service/main.ts", "scripts/dev-vars.ts"),
        edge("durable-objects/stats.ts", "worker/env.ts"),
        edge("core/policy.ts", "sim/engine.ts"),
        edge("worker/app.ts", "core/errors.ts"),
        edge("test/e2e/helpers.ts", "scripts/stack.ts"),
      ],
      [edge("core/signing.ts", "node:crypto"), edge("worker/app.ts", "hono")],
    );
    expect(bad).toEqual([
      expect.stringMatching(/^vm-service\/main\.ts -> scripts\/dev-vars\.ts: vm-service\/ \(layer 2\)/),
      expect.stringMatching(/^durable-objects\/stats\.ts -> worker\/env\.ts: /),
      expect.stringMatching(/^core\/policy\.ts -> sim\/engine\.ts: core\/ \(layer 0\)/),
      "core/signing.ts -> node:crypto: core/ is runtime-free",
    ]);
  });

  // KNOWN_EXCEPTIONS is empty since the model registry moved to models/ (issue 15).
  it("flags a cycle, even inside one folder", () => {
    const graph = [
      edge("worker/a.ts", "worker/b.ts"),
      edge("worker/b.ts", "worker/c.ts"),
      edge("worker/c.ts", "worker/a.ts"),
    ];
    expect(cycles(graph)).toEqual([["worker/a.ts", "worker/b.ts", "worker/c.ts"]]);
    expect(violations(graph, [])).toEqual(["import cycle among worker/a.ts, worker/b.ts, worker/c.ts"]);
  });

  it("reads type-only, re-exported and dynamic imports and maps .js specifiers to the .ts file", () => {
    const text = `import type { A } from "../core/a.js";\nexport { B } from "./b.js";\nconst c = await import("../core/c.js");\nimport x from "hono";`;
    expect(importsOf("worker/x.ts", text, (p) => p !== "worker/b.ts")).toEqual([
      "core/a.ts",
      "worker/b.js",
      "core/c.ts",
      "hono",
    ]);
  });
});
