// The Worker: the HTTP app and the DeepStages entrypoint (deep stages in their own invocation). The
// deployment's entry module (../index.ts) adds the Durable Object classes.
import { WorkerEntrypoint } from "cloudflare:workers";
import { runDeep } from "../core/deep.js";
import { InvalidInputError, toWire } from "../core/errors.js";
import { bodyLimit } from "hono/body-limit";
import { adminAuth, createApp, execCtx, methodNotAllowedElsewhere } from "./app.js";
import { runStages } from "../core/engine.js";
import { getModel } from "../models/registry.js";
import { ortWasmMemoryBytes, runnerFor } from "./ort.js";
import type { DeepAnswer, DeepStagesRpc } from "./infer.js";

/**
 * Runs the stages that did not fit the first invocation, from the hidden state in the frame. A failure
 * comes back as data (toWire), so the caller answers with its status, not a 500.
 */
export class DeepStages extends WorkerEntrypoint<Env> implements DeepStagesRpc {
  async run(frame: Uint8Array): Promise<DeepAnswer> {
    try {
      return await runDeep((name) => {
        const m = getModel(name);
        return m && { manifest: m.manifest, runner: () => runnerFor(m, this.env.MODELS) };
      }, frame);
    } catch (err) {
      return { error: toWire(err) };
    }
  }
}

const app = createApp((c) => (execCtx(c) as unknown as { exports: { DeepStages: DeepStagesRpc } }).exports.DeepStages);

// Benchmark baseline (admin only): the bare onnxruntime-web chain on one digit, nothing else. Timers
// inside workerd do not advance during compute, so the bench times this and the full infer handler
// from outside, over the same HTTP path, and takes the difference.
app.post("/internal/v1/bench/bare", adminAuth, bodyLimit({ maxSize: 64 * 1024 }), async (c) => {
  const { data } = (await c.req.json()) as { data: number[] };
  const m = getModel("mnist")!;
  const out = await runStages(
    await runnerFor(m, c.env.MODELS),
    m.manifest,
    { stage: 0, rows: [0], data: new Float32Array(data) },
    m.manifest.stages.length,
    1,
  );
  // The WASM heap size lets a memory soak tell ORT's heap from the rest of the isolate.
  return c.json({ label: out.results.get(0)!.label, ort_wasm_memory_bytes: ortWasmMemoryBytes() });
});

// Profiling (admin only, `npm run model:profile`): runs one stage `reps` times on one row in this isolate.
// Timed from outside against reps = 0 over the same path, since timers stand still during compute.
app.post("/internal/v1/bench/stage", adminAuth, bodyLimit({ maxSize: 8 * 1024 * 1024 }), async (c) => {
  const { model, stage, reps, data } = (await c.req.json()) as {
    model: string;
    stage: number;
    reps: number;
    data: number[];
  };
  const m = getModel(model);
  if (!m || !(stage >= 0 && stage < m.manifest.stages.length) || !(reps >= 0 && reps <= 10_000))
    throw new InvalidInputError("bench/stage: needs a bundled model, a stage index of it and 0 <= reps <= 10000");
  const runner = await runnerFor(m, c.env.MODELS);
  const input = new Float32Array(data);
  for (let i = 0; i < reps; i++) await runner.run(stage, input, 1);
  return c.json({ reps, ort_wasm_memory_bytes: ortWasmMemoryBytes() });
});

methodNotAllowedElsewhere(app);

export default { fetch: app.fetch } satisfies ExportedHandler<Env>;
