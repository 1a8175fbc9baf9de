// The Open Inference Protocol endpoints inside workerd, with the real model on onnxruntime-web.
import { env, exports } from "cloudflare:workers";
import { createExecutionContext } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import heldout from "../../models/mnist/heldout.json";
import { decodeHeldout } from "../../model/heldout-codec.js";
import { flushAll } from "../../worker/stats-buffer.js";

const ADMIN = { authorization: `Bearer ${(env as any).SERFLOW_ADMIN_TOKEN}` };
const { labels, rows } = decodeHeldout(heldout as any);
const call = (path: string, init?: RequestInit): Promise<{ status: number; headers: Headers; json(): Promise<any> }> =>
  (exports as any).default.fetch(new Request(`http://serflow${path}`, init));
const infer = (body: unknown, model = "mnist") =>
  call(`/v2/models/${model}/infer`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
const digits = (from: number, n: number) => ({
  inputs: [
    {
      name: "input",
      shape: [n, 784],
      datatype: "FP32",
      data: rows.slice(from, from + n).flatMap((r) => Array.from(r)),
    },
  ],
});

describe("metadata and health", () => {
  it("serves /v2, health and model metadata", async () => {
    const v2 = await (await call("/v2")).json();
    expect(v2.name).toBe("serflow");
    expect(v2.extensions).toContain("serflow");
    expect((await call("/v2/health/live")).status).toBe(200);
    expect((await call("/v2/health/ready")).status).toBe(200);
    expect((await call("/v2/models/mnist/ready")).status).toBe(200);
    const meta = await (await call("/v2/models/mnist")).json();
    expect(meta).toMatchObject({
      name: "mnist",
      platform: "onnx_onnxv1",
      inputs: [{ name: "input", datatype: "FP32", shape: [-1, 784] }],
    });
    expect(meta.outputs.map((o: any) => o.name)).toEqual(["probabilities", "label", "exit_stage"]);
  });
});

describe("inference", () => {
  it("classifies held-out digits row by row in a mixed batch", async () => {
    const n = 64;
    const res = await infer({ id: "batch-1", ...digits(0, n) });
    expect(res.status).toBe(200);
    const out = await res.json();
    expect(out.id).toBe("batch-1");
    const [probs, label, exitStage] = out.outputs;
    expect(probs.shape).toEqual([n, 10]);
    expect(label.datatype).toBe("INT64");
    expect(exitStage.datatype).toBe("INT32");
    const correct = label.data.filter((l: number, i: number) => l === labels[i]).length;
    expect(correct / n).toBeGreaterThan(0.93);
    // Rows exit at different stages in one batch, and each row's probabilities sum to 1.
    expect(new Set(exitStage.data).size).toBeGreaterThan(1);
    for (let i = 0; i < n; i++)
      expect(probs.data.slice(i * 10, i * 10 + 10).reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 4);
    // No VM registered: the deep stages ran on Workers.
    expect(out.parameters.serflow_route).toMatch(/^w0(,w\d)*$/);
  });

  it("answers each row as when sent alone", async () => {
    const batch = await (await infer(digits(0, 8))).json();
    for (let i = 0; i < 8; i++) {
      const one = await (await infer(digits(i, 1))).json();
      expect(one.outputs[1].data[0]).toBe(batch.outputs[1].data[i]);
      expect(one.outputs[2].data[0]).toBe(batch.outputs[2].data[i]);
      expect(one.outputs[0].data[3]).toBeCloseTo(batch.outputs[0].data[i * 10 + 3], 5);
    }
  });

  it("exit_threshold 1 runs every stage, 0 exits at stage 0; nested data is accepted", async () => {
    const all = await (await infer({ ...digits(0, 4), parameters: { exit_threshold: 1 } })).json();
    expect(all.outputs[2].data).toEqual([2, 2, 2, 2]);
    expect(all.parameters.serflow_route).toBe("w0,w1,w2");
    const nested = {
      inputs: [{ name: "input", shape: [2, 784], datatype: "FP32", data: [Array.from(rows[0]), Array.from(rows[1])] }],
      parameters: { exit_threshold: 0 },
    };
    const first = await (await infer(nested)).json();
    expect(first.outputs[2].data).toEqual([0, 0]);
    expect(first.parameters.serflow_route).toBe("w0");
  });
});

describe("errors", () => {
  const good = digits(0, 1);
  const withInput = (over: Record<string, unknown>) => ({ inputs: [{ ...good.inputs[0], ...over }] });
  it.each([
    ["bad JSON", "{not json", /not valid JSON/],
    ["wrong name", withInput({ name: "pixels" }), /name must be "input"/],
    ["wrong datatype", withInput({ datatype: "FP64" }), /datatype must be "FP32"/],
    ["wrong shape", withInput({ shape: [1, 783] }), /shape must be \[N, 784\]/],
    ["length mismatch", withInput({ shape: [2, 784] }), /has 784 values but shape needs 1568/],
    ["NaN as a string", withInput({ data: ["NaN", ...good.inputs[0].data.slice(1)] }), /data\[0\] is not a number/],
    [
      "infinite value",
      `{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","data":[1e999${",0".repeat(783)}]}]}`,
      /data\[0\] is not finite/,
    ],
    ["bad exit_threshold", { ...good, parameters: { exit_threshold: -0.1 } }, /exit_threshold/],
    // Too deep for JSON.stringify to echo (a RangeError, once a 500): refused before parsing.
    [
      "a name nested 100,000 deep",
      `{"inputs":[{"name":${"[".repeat(100_000)}${"]".repeat(100_000)},"shape":[1,784],"datatype":"FP32","data":[]}]}`,
      /^request body nests deeper than \d+ levels$/,
    ],
    // Refused before JSON.parse builds it: 300,000 objects would be tens of MB of the isolate's 128.
    [
      "a body of 300,000 empty objects",
      `{"inputs":[${"{},".repeat(300_000)}{}]}`,
      /holds more than \d+ arrays and objects/,
    ],
    // Refused before JSON.parse builds it: 1.2-1.7 s and over 100 MB for a request that is a 400 anyway.
    [
      "parameters of 600,000 members",
      `{"parameters":{${Array.from({ length: 600_000 }, (_, i) => `"${i}":0`).join(",")}},"inputs":[]}`,
      /^request body holds more than \d+ values; an infer request for this model needs fewer$/,
    ],
    ["no inputs", {}, /"inputs" must be an array/],
  ])("400 for %s, with a JSON error saying what is wrong", async (_name, body, msg) => {
    const res = await infer(body);
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatch(msg);
  });

  it("404 unknown model or route, 405 wrong method", async () => {
    const r404 = await infer(good, "resnet");
    expect(r404.status).toBe(404);
    expect((await r404.json()).error).toMatch(/unknown model "resnet"/);
    expect((await call("/nope")).status).toBe(404);
    const r405 = await call("/v2/models/mnist/infer");
    expect(r405.status).toBe(405);
    expect((await r405.json()).error).toMatch(/GET is not allowed/);
  });

  it("405 on every served path for a method it does not serve, the dashboard's assets included", async () => {
    for (const path of [
      "/v2",
      "/v2/health/ready",
      "/v2/models/mnist",
      "/v2/models/mnist/stats",
      "/metrics",
      "/dashboard",
      "/dashboard/uplot.js",
      "/dashboard/uplot.css",
      "/internal/v1/bench/bare",
    ]) {
      const res = await call(path, { method: path.endsWith("bare") ? "GET" : "DELETE" });
      expect(res.status, path).toBe(405);
      expect((await res.json()).error).toMatch(/is not allowed on/);
    }
    expect((await call("/internal/v1/vms/mnist/heartbeat")).status).toBe(405);
    expect((await call("/internal/v1/vms/mnist/reboot", { method: "POST" })).status).toBe(404);
  });

  it("413 for a body over the limit", async () => {
    const big = "x".repeat(9 * 1024 * 1024);
    const res = await call("/v2/models/mnist/infer", { method: "POST", body: big });
    expect(res.status).toBe(413);
    expect((await res.json()).error).toMatch(/exceeds the limit of 8388608 bytes/);
  });

  it("a SERFLOW_MAX_BODY_BYTES that is not a number is an error naming it to the operator, not a limit switched off", async () => {
    const { default: worker } = await import("../../worker/index.js");
    const send = (headers: Record<string, string>) =>
      worker.fetch(
        new Request("http://serflow/v2/models/mnist/infer", {
          method: "POST",
          headers,
          body: JSON.stringify(digits(0, 1)),
        }),
        { ...(env as any), SERFLOW_MAX_BODY_BYTES: "8MiB" },
        createExecutionContext(),
      );
    const failures = async () => {
      await flushAll(env as any);
      return ((await (await call("/v2/models/mnist/stats", { headers: ADMIN })).json()) as { failures: number })
        .failures;
    };
    const before = await failures();
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      // A stranger learns that the server is misconfigured and the ref it is logged under, not the variable.
      const res = await send({});
      expect(res.status).toBe(500);
      const { error } = (await res.json()) as { error: string };
      const ref = /^server misconfigured \(ref ([0-9a-f]{12})\)$/.exec(error)?.[1];
      expect(ref, error).toBeDefined();
      const line = logged.mock.calls.map((call) => call.map(String).join(" ")).find((l) => l.includes(ref!));
      expect(line).toMatch(/SERFLOW_MAX_BODY_BYTES must be a whole number >= 1 \(got "8MiB"\)/);
      // The operator gets the variable in the answer, and it is not kept by a cache on the way.
      const admin = await send(ADMIN);
      expect(admin.status).toBe(500);
      expect(admin.headers.get("cache-control")).toBe("no-store");
      expect(((await admin.json()) as { error: string }).error).toMatch(
        /^server misconfigured: SERFLOW_MAX_BODY_BYTES must be a whole number >= 1 \(got "8MiB"\) \(ref [0-9a-f]{12}\)$/,
      );
      // Both are failures of the system, counted in serflow_request_failures_total.
      expect(await failures()).toBe(before + 2);
    } finally {
      logged.mockRestore();
    }
  });

  it("401 on admin endpoints without the token or with a wrong one", async () => {
    for (const path of ["/v2/models/mnist/stats", "/v2/models/mnist/plan"]) {
      expect((await call(path)).status).toBe(401);
      expect((await call(path, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
      expect((await call(path, { headers: ADMIN })).status).toBe(200);
    }
  });

  it("503 with Retry-After when VMs are forced but none runs", async () => {
    const res = await infer({ ...good, parameters: { serflow_force: "vm", exit_threshold: 1 } });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect((await res.json()).error).toMatch(/no VM is running/);
  });

  it("that 503 is the caller's choice, not a failure of the system: anyone may send it, and it is not counted", async () => {
    const failures = async () => {
      await flushAll(env as any);
      const stats = (await (await call("/v2/models/mnist/stats", { headers: ADMIN })).json()) as { failures: number };
      const metrics: string = await ((await call("/metrics", { headers: ADMIN })) as any).text();
      const line = /^serflow_request_failures_total\{model="mnist"\} (\d+)$/m.exec(metrics);
      expect(Number(line?.[1]), "the exposition and the stats agree").toBe(stats.failures);
      return stats.failures;
    };
    const before = await failures();
    for (let i = 0; i < 10; i++) {
      const res = await infer({ ...good, parameters: { serflow_force: "vm", exit_threshold: 1 } });
      expect(res.status).toBe(503);
      await res.json();
    }
    expect(await failures()).toBe(before);
  });
});
