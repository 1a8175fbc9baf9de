// A model that fails to load, inside workerd: the failure is remembered per isolate for LOAD_RETRY_AFTER_S,
// so unauthenticated probes in that time read nothing from R2 and compile nothing; the first after it
// loads again. The clock is vitest's fake Date, moved instead of slept.
import { env } from "cloudflare:workers";
import { createExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import spamBytes3 from "../../models/spam/stage3.onnx";
import { LOAD_RETRY_AFTER_S } from "../../core/load-memory.js";
import { getModel } from "../../models/registry.js";
import { runnerFor } from "../../worker/ort.js";
import worker from "../../worker/index.js";

const MODELS = (env as any).MODELS as R2Bucket;
const spam = getModel("spam")!;
/** spam under another name, its last stage in R2 (at NAME/stage3.onnx) instead of the bundle. */
const asR2 = (name: string) => {
  const manifest = {
    ...spam.manifest,
    name,
    stages: spam.manifest.stages.map((s, i) => (i === 3 ? { ...s, location: "r2" as const } : s)),
  };
  const files = { ...spam.files };
  delete files["stage3.onnx"];
  return { manifest, files };
};
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

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.UTC(2026, 0, 1));
});
afterEach(() => vi.useRealTimers());
const tick = (s: number) => vi.setSystemTime(Date.now() + s * 1000);

describe("a failed model load is remembered", () => {
  it("probes within LOAD_RETRY_AFTER_S do not read R2 again; the first after it does, and sees the fix", async () => {
    const { reads, bucket } = counted();
    const m = asR2("spam-flaky");
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

  it("the readiness endpoints answer 503 from memory, with Retry-After the seconds left, then load again", async () => {
    // spam's stage 3 fails to load in this isolate (missing from R2); the sessions are kept by model name,
    // so the endpoints see this failure for "spam". Loading again would succeed (from the bundle).
    await expect(runnerFor(asR2("spam"), counted().bucket)).rejects.toThrow(/stage 3 failed to load/);
    tick(5);
    const email = { inputs: [{ name: "input", shape: [1, 1024], datatype: "FP32", data: Array(1024).fill(0) }] };
    for (const [path, init] of [
      ["/v2/models/spam/ready", undefined],
      ["/v2/health/ready", undefined],
      ["/v2/models/spam/infer", { method: "POST", body: JSON.stringify(email) }],
    ] as const) {
      const res = await call(path, init);
      expect(res.status, path).toBe(503);
      expect(res.headers.get("retry-after"), path).toBe(String(LOAD_RETRY_AFTER_S - 5));
    }
    const { models } = (await (await call("/v2/models")).json()) as any;
    expect(models.find((m: any) => m.name === "spam")).toMatchObject({ ready: false, state: "UNAVAILABLE" });
    const index = (await (await call("/v2/repository/index", { method: "POST" })).json()) as any[];
    expect(index.find((m) => m.name === "spam").state).toBe("UNAVAILABLE");
    tick(LOAD_RETRY_AFTER_S - 5);
    expect((await call("/v2/models/spam/ready")).status).toBe(200);
    expect((await call("/v2/health/ready")).status).toBe(200);
  });
});
