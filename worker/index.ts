// The Worker: the HTTP app and the DeepStages entrypoint (deep stages in their own invocation). The
// deployment's entry module (../index.ts) adds the Durable Object classes.
import { WorkerEntrypoint } from "cloudflare:workers";
import { runDeep, type DeepResult } from "../core/deep.js";
import { createApp, execCtx, requireAdmin } from "./app.js";
import { runStages } from "../core/engine.js";
import { getModel } from "./models.js";
import { ortWasmMemoryBytes, runnerFor } from "./ort.js";
import type { DeepStagesRpc } from "./infer.js";

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

// Benchmark baseline (admin only): the bare onnxruntime-web chain on one digit, nothing else. Timers
// inside workerd do not advance during compute, so the bench times this and the full infer handler
// from outside, over the same HTTP path, and takes the difference.
app.post("/internal/v1/bench/bare", async (c) => {
  requireAdmin(c);
  const { data } = (await c.req.json()) as { data: number[] };
  const m = getModel("mnist")!;
  const out = await runStages(
    await runnerFor(m.manifest, m.files),
    m.manifest,
    { stage: 0, rows: [0], data: new Float32Array(data) },
    m.manifest.stages.length,
    1,
  );
  // The WASM heap size lets a memory soak tell ORT's heap from the rest of the isolate.
  return c.json({ label: out.results.get(0)!.label, ort_wasm_memory_bytes: ortWasmMemoryBytes() });
});

export default { fetch: app.fetch } satisfies ExportedHandler<Env>;
