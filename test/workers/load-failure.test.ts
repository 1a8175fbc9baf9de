// A model that fails to load, inside workerd: the failure is remembered per isolate for LOAD_RETRY_AFTER_S,
// so unauthenticated probes in that time read nothing from R2 and compile nothing; the first after it
// loads again. The clock is vitest's fake Date, moved instead of slept.
import { env, exports } from "cloudflare:workers";
import { createExecutionContext } from "cloudflare:test";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import spamBytes3 from "../../models/spam/stage3.onnx";
import { errorResponse, fromWire, ModelLoadError } from "../../core/errors.js";
import { stageInputShape } from "../../core/engine.js";
import { encodeFrame } from "../../core/frame.js";
import { getModel } from "../../models/registry.js";
import { LOAD_RETRY_AFTER_S } from "../../core/load-memory.js";
import { runnerFor } from "../../worker/ort.js";
import { spamWithStage3InR2 } from "./spam-in-r2.js";
import { flushAll } from "../../worker/stats-buffer.js";
import worker from "../../worker/index.js";

const MODELS = (env as any).MODELS as R2Bucket;
const ADMIN = { authorization: `Bearer ${(env as any).SERFLOW_ADMIN_TOKEN}` };
/** The MODELS bucket, counting the reads. */
const counted = () => {
  const reads: string[] = [];
  const bucket = {
    get: (key: string) => {
      reads.push(key);
      return MODELS.get(key);
    },
  } as unknown as R2Bucket;
  return { reads, bucket };
};
const call = (path: string, init?: RequestInit) =>
  worker.fetch(new Request(`http://serflow${path}`, init), env as any, createExecutionContext());

// Now, not a fixed date: the controller Durable Object sets its alarms by this clock too, and an alarm in
// the real past fires at once, again and again.
const T0 = Date.now();
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(T0); // the same instant in every test: the failure remembered in one is there in the next
});
afterEach(() => vi.useRealTimers());
const tick = (s: number) => vi.setSystemTime(Date.now() + s * 1000);

describe("a failed model load is remembered", () => {
  it("probes within LOAD_RETRY_AFTER_S do not read R2 again; the first after it does, and sees the fix", async () => {
    const { reads, bucket } = counted();
    const m = spamWithStage3InR2("spam-flaky");
    await expect(runnerFor(m, bucket)).rejects.toMatchObject({ stage: 3, retryAfterS: LOAD_RETRY_AFTER_S });
    expect(reads).toEqual(["spam-flaky/stage3.onnx"]);
    await MODELS.put("spam-flaky/stage3.onnx", spamBytes3); // fixed in R2 right away
    tick(10);
    for (let i = 0; i < 20; i++)
      await expect(runnerFor(m, bucket)).rejects.toMatchObject({ retryAfterS: LOAD_RETRY_AFTER_S - 10 });
    tick(LOAD_RETRY_AFTER_S - 10 - 1);
    await expect(runnerFor(m, bucket)).rejects.toMatchObject({ retryAfterS: 1 });
    expect(reads).toHaveLength(1);
    tick(1);
    const runner = await runnerFor(m, bucket);
    expect(reads).toHaveLength(2);
    expect(await runnerFor(m, bucket)).toBe(runner); // loaded: kept for the isolate
    expect(reads).toHaveLength(2);
    await MODELS.delete("spam-flaky/stage3.onnx");
  });
});

describe("spam's stage 3 failed to load in this isolate", () => {
  // The sessions are kept by model name, so a failed load of spam with stage 3 in R2 (missing there) is
  // what the endpoints see for "spam" until the window ends. Loading again would succeed (from the bundle).
  let failed: ModelLoadError;
  beforeAll(async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(T0);
    failed = await runnerFor(spamWithStage3InR2("spam"), counted().bucket).catch((e) => e);
    expect(failed).toBeInstanceOf(ModelLoadError);
  });
  const email = { inputs: [{ name: "input", shape: [1, 1024], datatype: "FP32", data: Array(1024).fill(0) }] };
  const probes = [
    ["/v2/models/spam/ready", undefined],
    ["/v2/health/ready", undefined],
    ["/v2/models/spam/infer", { method: "POST", body: JSON.stringify(email) }],
  ] as const;

  it("the readiness endpoints and infer answer 503 from memory, with Retry-After the seconds left", async () => {
    tick(5);
    for (const [path, init] of probes) {
      const res = await call(path, init);
      expect(res.status, path).toBe(503);
      expect(res.headers.get("retry-after"), path).toBe(String(LOAD_RETRY_AFTER_S - 5));
    }
    const { models } = (await (await call("/v2/models")).json()) as any;
    expect(models.find((m: any) => m.name === "spam")).toMatchObject({ ready: false, state: "UNAVAILABLE" });
    const index = (await (await call("/v2/repository/index", { method: "POST" })).json()) as any[];
    expect(index.find((m) => m.name === "spam").state).toBe("UNAVAILABLE");
  });

  it("a stranger is told the model, the stage and a ref, not the R2 key; the operator the reason", async () => {
    const told = `model "spam" stage 3 failed to load (ref ${failed.ref})`;
    const reason = `model "spam" stage 3 failed to load: stage3.onnx is not in the MODELS bucket at "spam/stage3.onnx"`;
    expect(failed.message).toContain(reason);
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      for (const [path, init] of probes) {
        const stranger = (await (await call(path, init)).json()) as { error: string };
        expect(stranger.error, path).toContain(told);
        expect(stranger.error, path).not.toMatch(/MODELS|stage3\.onnx|upload/);
        const res = await call(path, { ...init, headers: ADMIN });
        expect(res.headers.get("cache-control"), path).toBe("no-store");
        expect(((await res.json()) as { error: string }).error, path).toContain(`${reason}`);
      }
      expect(((await (await call("/v2/health/ready")).json()) as any).error).toBe(`not ready: ${told}`);
      const listed = async (headers = {}) => {
        const { models } = (await (await call("/v2/models", { headers })).json()) as any;
        const index = (await (await call("/v2/repository/index", { method: "POST", headers })).json()) as any[];
        return [models, index].map((all: any[]) => all.find((m) => m.name === "spam").reason);
      };
      expect(await listed()).toEqual([told, told]);
      for (const r of await listed(ADMIN)) expect(r).toContain(reason);
      // Logged once, when the load failed, under that ref: probes add no line to the log.
      expect(logged).not.toHaveBeenCalled();
    } finally {
      logged.mockRestore();
    }
  });

  it("a request it refuses is a failure of the system, counted in serflow_request_failures_total", async () => {
    const failures = async () => {
      await flushAll(env as any);
      const metrics = await (await call("/metrics", { headers: ADMIN })).text();
      return Number(/^serflow_request_failures_total\{model="spam"\} (\d+)$/m.exec(metrics)?.[1]);
    };
    const before = await failures();
    const [path, init] = probes[2];
    expect((await call(path, init)).status).toBe(503);
    expect(await failures()).toBe(before + 1);
  });

  it('with faas_deep "separate", the DeepStages invocation returns the failure as data: a 503, not a 500', async () => {
    const m = getModel("spam")!.manifest;
    const shape = stageInputShape(m, 3, 2);
    const frame = encodeFrame({ model: "spam", fromStage: 3, shape }, new Float32Array(shape.reduce((a, b) => a * b)));
    tick(2);
    // Across the real RPC boundary: a thrown error would arrive as a bare Error, without stage or Retry-After.
    const out = await (exports as any).DeepStages.run(frame);
    const err = fromWire(out.error);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err).toMatchObject({ stage: 3, ref: failed.ref });
    const answer = errorResponse(err);
    expect(answer.status).toBe(503);
    expect(answer.headers["Retry-After"]).toBe(String(LOAD_RETRY_AFTER_S - 2));
    expect(answer.body.error).toBe(failed.publicMessage);
  });

  it("the first call after the window loads again", async () => {
    tick(LOAD_RETRY_AFTER_S);
    expect((await call("/v2/models/spam/ready")).status).toBe(200);
    expect((await call("/v2/health/ready")).status).toBe(200);
  });
});
