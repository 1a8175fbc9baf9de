// vm-service with the real model on onnxruntime-node, called in-process through its hono app:
// signatures, admission (full -> 503), draining, and hostile frames (never a 5xx, never a crash).
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_VM_SERVICE, VmService } from "./server.js";
import { loadModels } from "./models.js";
import { DEEP_PATH } from "../core/deep.js";
import { encodeFrame } from "../core/frame.js";
import { signRequest } from "../core/signing.js";
import { runStages } from "../core/engine.js";
import { loadHeldout } from "../model/heldout.js";

const KEY = "vm-test-key";
const models = await loadModels(fileURLToPath(new URL("../models", import.meta.url)));
const mnist = models.get("mnist")!;
const { labels, rows } = loadHeldout();
let vm: VmService;
let h0: Float32Array[];

const call = async (body: Uint8Array, key = KEY) => {
  const headers = await signRequest(key, "POST", DEEP_PATH, body);
  return vm.app.request(DEEP_PATH, { method: "POST", body: body as Uint8Array<ArrayBuffer>, headers });
};
const frameOf = (i: number) => encodeFrame({ model: "mnist", fromStage: 1, shape: [1, 16, 14, 14], exitThreshold: 1 }, h0[i]);

beforeAll(async () => {
  vm = new VmService({ ...DEFAULT_VM_SERVICE, id: "t", publicUrl: "http://127.0.0.1:1", signingKey: KEY, controllerUrl: null, slots: 2, models: ["mnist"] });
  vm.ready(models);
  h0 = await Promise.all(rows.slice(0, 20).map(async (r) => (await runStages(mnist.runner, mnist.manifest, { stage: 0, rows: [0], data: r }, 1, 1)).pending!.data));
});

describe("vm-service", () => {
  it("runs the deep stages for a signed frame", async () => {
    let correct = 0;
    for (let i = 0; i < 20; i++) {
      const res = await call(frameOf(i));
      expect(res.status).toBe(200);
      const out = (await res.json()) as any;
      expect(out.results).toHaveLength(1);
      expect(out.results[0].exitStage).toBe(2);
      if (out.results[0].label === labels[i]) correct++;
    }
    expect(correct).toBeGreaterThanOrEqual(18);
  });

  it("refuses unsigned, wrongly signed and replayed calls", async () => {
    const body = frameOf(0);
    expect((await vm.app.request(DEEP_PATH, { method: "POST", body: body as Uint8Array<ArrayBuffer> })).status).toBe(401);
    expect((await call(body, "other-key")).status).toBe(401);
    const headers = await signRequest(KEY, "POST", DEEP_PATH, body);
    expect((await vm.app.request(DEEP_PATH, { method: "POST", body: body as Uint8Array<ArrayBuffer>, headers })).status).toBe(200);
    const replay = await vm.app.request(DEEP_PATH, { method: "POST", body: body as Uint8Array<ArrayBuffer>, headers });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as any).error).toMatch(/replayed/);
  });

  it("a full VM answers 503 at once instead of queueing; a draining VM takes nothing new", async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => call(frameOf(i))));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    const drainer = new VmService({ ...DEFAULT_VM_SERVICE, id: "d", publicUrl: "http://127.0.0.1:1", signingKey: KEY, controllerUrl: null, models: ["mnist"] });
    drainer.ready(models);
    await drainer.drain();
    const headers = await signRequest(KEY, "POST", DEEP_PATH, frameOf(0));
    const res = await drainer.app.request(DEEP_PATH, { method: "POST", body: frameOf(0) as Uint8Array<ArrayBuffer>, headers });
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).error).toMatch(/draining/);
  });

  it("signed hostile frames get a 4xx JSON error, never a 5xx, and valid frames are still served", async () => {
    const hostile = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.record({ model: fc.oneof(fc.constant("mnist"), fc.string()), fromStage: fc.oneof(fc.integer({ min: -2, max: 5 }), fc.double()), shape: fc.array(fc.integer({ min: -1, max: 20 }), { maxLength: 5 }), exitThreshold: fc.oneof(fc.double(), fc.constant(undefined)) }).chain((h) =>
        fc.float32Array({ maxLength: 64 }).map((d) => {
          try {
            return encodeFrame(h as any, d);
          } catch {
            return new Uint8Array(0);
          }
        }),
      ),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(hostile, async (body) => {
        const res = await call(body);
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(typeof ((await res.json()) as any).error).toBe("string");
        if (++n % 20 === 0) expect((await call(frameOf(n % 20))).status).toBe(200);
      }),
      { numRuns: 300, seed: 11 },
    );
    expect(vm.failed).toBe(0);
  });
});

describe("waiting for a slot (vm.queue_ms)", () => {
  it("a full VM lets a request wait up to queue_ms for a slot, then answers 503", async () => {
    const one = (queueMs: number) => {
      const v = new VmService({ ...DEFAULT_VM_SERVICE, id: `q${queueMs}`, publicUrl: "http://127.0.0.1:1", signingKey: KEY, controllerUrl: null, slots: 1, queueMs, models: ["mnist"] });
      v.ready(models);
      return v;
    };
    const send = async (v: VmService, i: number) => {
      const body = frameOf(i);
      const headers = await signRequest(KEY, "POST", DEEP_PATH, body);
      return (await v.app.request(DEEP_PATH, { method: "POST", body: body as Uint8Array<ArrayBuffer>, headers })).status;
    };
    // 6 at once on one slot: with a generous wait all are served in turn, never more than one at a time.
    const patient = one(2_000);
    let maxInflight = 0;
    const watch = setInterval(() => (maxInflight = Math.max(maxInflight, patient.inflight)), 0);
    expect(await Promise.all([0, 1, 2, 3, 4, 5].map((i) => send(patient, i)))).toEqual([200, 200, 200, 200, 200, 200]);
    clearInterval(watch);
    expect(maxInflight).toBe(1);
    expect(patient.inflight).toBe(0);
    // Without waiting, the same burst overflows.
    const impatient = one(0);
    const statuses = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => send(impatient, i)));
    expect(statuses).toContain(503);
    expect(impatient.inflight).toBe(0);
  });
});
