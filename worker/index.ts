// Worker entry: the HTTP app, the DeepStages entrypoint (deep stages in their own invocation) and the
// Durable Object classes.
import { WorkerEntrypoint } from "cloudflare:workers";
import { runDeep, type DeepResult } from "../core/deep.js";
import { createApp, execCtx, requireAdmin } from "./app.js";
import { runStages } from "../core/engine.js";
import { getModel } from "./models.js";
import { runnerFor } from "./ort.js";
import type { Env } from "./env.js";
import type { DeepStagesRpc } from "./infer.js";

export { StatsDO } from "../durable-objects/stats.js";
export { ControllerDO } from "../durable-objects/controller.js";

/** Runs the stages that did not fit the first invocation, from the hidden state in the frame. */
export class DeepStages extends WorkerEntrypoint<Env> implements DeepStagesRpc {
  async run(frame: Uint8Array): Promise<DeepResult> {
    return runDeep((name) => {
      const m = getModel(name);
      return m && { manifest: m.manifest, runner: () => runnerFor(m.manifest, m.files) };
    }, frame);
  }
}

const app = createApp((c) => (execCtx(c) as unknown as { exports: { DeepStages: DeepStagesRpc } }).exports.DeepStages);

// Benchmark of the Worker's own overhead, measured inside one isolate (admin only): the bare
// onnxruntime-web chain versus the whole infer handler on the same digit, `n` times each.
app.post("/internal/v1/bench/overhead", async (c) => {
  requireAdmin(c);
  const { n = 200, data } = (await c.req.json()) as { n?: number; data: number[] };
  const m = getModel("mnist")!;
  const runner = await runnerFor(m.manifest, m.files);
  const input = new Float32Array(data);
  const body = JSON.stringify({ inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data }], parameters: { exit_threshold: 1, serflow_force: "worker" } });
  const bare: number[] = [];
  const full: number[] = [];
  for (let i = 0; i < n; i++) {
    let t = performance.now();
    await runStages(runner, m.manifest, { stage: 0, rows: [0], data: input }, m.manifest.stages.length, 1);
    bare.push(performance.now() - t);
    t = performance.now();
    const res = await app.fetch(new Request("http://bench/v2/models/mnist/infer", { method: "POST", body }), c.env, c.executionCtx);
    await res.arrayBuffer();
    full.push(performance.now() - t);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return c.json({ n, bare_ms_median: median(bare), handler_ms_median: median(full), overhead_ms_median: median(full) - median(bare) });
});

export default { fetch: app.fetch } satisfies ExportedHandler<Env>;
