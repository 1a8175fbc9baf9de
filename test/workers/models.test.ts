// Every folder under models/ is bundled (the generated registry): the model index with readiness from
// real onnxruntime-web sessions, the 4-stage `spam` model served beside mnist, and a stage served from R2.
import { env, exports } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import spamHeldout from "../../models/spam/heldout.json";
import spamBytes3 from "../../models/spam/stage3.onnx";
import { decodeLabelled } from "../../core/labelled.js";
import { runStages } from "../../core/engine.js";
import { getModel, modelNames } from "../../models/registry.js";
import { runnerFor } from "../../worker/ort.js";
import { infer } from "../../worker/infer.js";
import { spamWithStage3InR2 } from "./spam-in-r2.js";
import { countsAsFailure, statusOf } from "../../core/errors.js";

const call = (path: string, init?: RequestInit): Promise<Response> =>
  (exports as any).default.fetch(new Request(`http://serflow${path}`, init));
const spam = decodeLabelled(spamHeldout, 1024);
const MODELS = (env as any).MODELS as R2Bucket;

describe("model index", () => {
  it("lists every bundled folder with readiness from loaded sessions", async () => {
    expect(modelNames()).toEqual(expect.arrayContaining(["mnist", "spam"]));
    const { models } = (await (await call("/v2/models")).json()) as any;
    const byName = Object.fromEntries(models.map((m: any) => [m.name, m]));
    expect(byName.mnist).toMatchObject({ ready: true, state: "READY", stages: 3 });
    expect(byName.spam).toMatchObject({ ready: true, state: "READY", stages: 4, version: "1" });
    const index = (await (await call("/v2/repository/index", { method: "POST" })).json()) as any[];
    expect(index.map((m) => m.state)).toEqual(models.map(() => "READY"));
    expect((await call("/v2/models/spam/ready")).status).toBe(200);
    expect((await call("/v2/models/nope/ready")).status).toBe(404);
  });
});

describe("the spam model beside mnist", () => {
  it("classifies 200 held-out e-mails as the build measured, exiting at four stages", async () => {
    const n = 200;
    const res = await call("/v2/models/spam/infer", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        inputs: [
          { name: "input", shape: [n, 1024], datatype: "FP32", data: Array.from(spam.data.subarray(0, n * 1024)) },
        ],
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    const out = Object.fromEntries(body.outputs.map((o: any) => [o.name, o]));
    expect(out.probabilities.shape).toEqual([n, 2]);
    const right = out.label.data.filter((l: number, r: number) => l === spam.labels[r]).length;
    expect(right / n).toBeGreaterThan(0.95); // metrics.json: 98.3% on the 1,046 test e-mails
    // exit_threshold 1: no row exits before the last of the four stages.
    const deep = (await (
      await call("/v2/models/spam/infer", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          inputs: [
            { name: "input", shape: [1, 1024], datatype: "FP32", data: Array.from(spam.data.subarray(0, 1024)) },
          ],
          parameters: { exit_threshold: 1 },
        }),
      })
    ).json()) as any;
    expect(deep.outputs.find((o: any) => o.name === "exit_stage").data).toEqual([3]);
    expect(deep.parameters.serflow_route.split(",")).toHaveLength(4);
  });
});

describe("a stage served from R2", () => {
  const spamModel = getModel("spam")!;

  it("is fetched from the MODELS bucket once per isolate and runs like the bundled one", async () => {
    await MODELS.put("spam-r2/stage3.onnx", spamBytes3);
    const fromR2 = await runnerFor(spamWithStage3InR2("spam-r2"), MODELS);
    await MODELS.delete("spam-r2/stage3.onnx"); // cached in the isolate: no second fetch needed
    expect(await runnerFor(spamWithStage3InR2("spam-r2"), MODELS)).toBe(fromR2);
    const bundled = await runnerFor(spamModel);
    const pending = { stage: 0, rows: [0, 1, 2, 3], data: spam.data.slice(0, 4 * 1024) };
    const a = await runStages(fromR2, spamModel.manifest, pending, 4, 1);
    const b = await runStages(bundled, spamModel.manifest, pending, 4, 1);
    expect([...a.results.values()]).toEqual([...b.results.values()]);
  });

  it("a stage pinned to VMs is not loaded in the isolate: running it there is a 503 naming it", async () => {
    const manifest = {
      ...spamModel.manifest,
      name: "spam-vm-only",
      stages: spamModel.manifest.stages.map((s, i) => (i === 3 ? { ...s, placement: "vm" as const } : s)),
    };
    const runner = await runnerFor({ manifest, files: { ...spamModel.files, "stage3.onnx": new ArrayBuffer(0) } });
    const pending = { stage: 0, rows: [0], data: spam.data.slice(0, 1024) };
    const shallow = await runStages(runner, manifest, pending, 3, 1); // stages 0-2 run on the Worker
    expect(shallow.pending?.stage).toBe(3);
    await expect(runStages(runner, manifest, shallow.pending!, 4, 1)).rejects.toThrow(
      /model "spam-vm-only": stage 3 runs on VMs only/,
    );
  });

  it("serflow_force=worker on a model with a stage pinned to VMs is a 400 (no retry helps), not a failure of the system", async () => {
    const manifest = {
      ...spamModel.manifest,
      name: "spam-vm-only-forced",
      stages: spamModel.manifest.stages.map((s, i) => (i === 3 ? { ...s, placement: "vm" as const } : s)),
    };
    const model = { manifest, files: { ...spamModel.files, "stage3.onnx": new ArrayBuffer(0) } };
    const body = {
      inputs: [{ name: "input", shape: [1, 1024], datatype: "FP32", data: Array.from(spam.data.subarray(0, 1024)) }],
      parameters: { serflow_force: "worker", exit_threshold: 1 },
    };
    const ctx = createExecutionContext();
    const noDeep = { run: () => Promise.reject(new Error("the deep stages were not to be called")) };
    const err = await infer(env as any, ctx, model, body, noDeep, async () => false).catch((e) => e);
    await waitOnExecutionContext(ctx);
    expect(statusOf(err)).toBe(400);
    expect(err.message).toBe('serflow_force=worker but stage 3 runs on VMs only (placement "vm")');
    expect(countsAsFailure(err)).toBe(false);
  });

  it("is not ready, naming the bucket key, when the object is missing", async () => {
    await expect(runnerFor(spamWithStage3InR2("spam-missing"), MODELS)).rejects.toThrow(
      /not in the MODELS bucket at "spam-missing\/stage3.onnx"/,
    );
  });
});
