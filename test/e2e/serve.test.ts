// End to end: the local stack (the Worker in Miniflare: workerd, Durable Objects on SQLite) and real
// vm-service processes with onnxruntime-node, real held-out digits over real HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, digitsBody, heldout, infer, testStack, until } from "./helpers.js";

let stack: Awaited<ReturnType<typeof testStack>>;

beforeAll(async () => {
  // One VM kept running whatever the load (vm.min), booting in 2 s.
  stack = await testStack({ vm: { min: 1, max: 2, boot_s: 2 } });
  await until("a running VM", async () => (await admin(stack, "/v2/models/mnist/plan")).vms.running >= 1, 60_000).catch(
    (err) => {
      throw new Error(`${err.message}; the stack's last lines:\n${stack.logs.slice(-40).join("\n")}`);
    },
  );
});
afterAll(async () => {
  await stack?.stop();
});

describe("a real early-exit model served by a Worker and a VM", () => {
  it("classifies held-out digits with the deep stages on the VM", async () => {
    const n = 100;
    const { status, json } = await infer(stack.url, {
      id: "e2e",
      ...digitsBody(0, n, { serflow_force: "vm", exit_threshold: 1 }),
    });
    expect(status).toBe(200);
    expect(json.id).toBe("e2e");
    expect(json.parameters.serflow_route).toBe("w0,v1,v2");
    const labels = json.outputs[1].data as number[];
    const accuracy = labels.filter((l, i) => l === heldout.labels[i]).length / n;
    expect(accuracy).toBeGreaterThanOrEqual(0.96);
    expect(json.outputs[2].data.every((s: number) => s === 2)).toBe(true);
  });

  it("VM and Worker give the same answers, row by row, with exits at several stages", async () => {
    const body = (force: string) => digitsBody(100, 50, { serflow_force: force });
    const vm = (await infer(stack.url, body("vm"))).json;
    const worker = (await infer(stack.url, body("worker"))).json;
    expect(vm.outputs[1].data).toEqual(worker.outputs[1].data);
    expect(vm.outputs[2].data).toEqual(worker.outputs[2].data);
    expect(new Set(vm.outputs[2].data).size).toBeGreaterThan(1);
    expect(vm.parameters.serflow_route).toMatch(/^w0,v1/);
    expect(worker.parameters.serflow_route).toMatch(/^w0,w1/);
    for (let i = 0; i < 50 * 10; i++) expect(vm.outputs[0].data[i]).toBeCloseTo(worker.outputs[0].data[i], 4);
  });

  it("refuses unsigned and replayed calls to the VM", async () => {
    const plan = await admin(stack, "/v2/models/mnist/plan");
    const url = plan.vms.instances.find((v: any) => v.state === "running").url;
    const res = await fetch(`${url}/internal/v1/deep`, { method: "POST", body: new Uint8Array(16) });
    expect(res.status).toBe(401);
    expect((await res.json()).error).toMatch(/missing request signature/);
  });
});

describe('faas_deep "separate"', () => {
  it("runs the deep stages through the DeepStages entrypoint (ctx.exports) in the local stack", async () => {
    const own = await testStack({ faas_deep: "separate" }, undefined, false);
    try {
      const { status, json } = await infer(
        own.url,
        digitsBody(0, 20, { serflow_force: "worker", exit_threshold: 1 }),
        own.adminToken,
      );
      expect(status).toBe(200);
      expect(json.parameters.serflow_route).toBe("w0,w1,w2");
      expect(
        json.outputs[1].data.filter((l: number, i: number) => l === heldout.labels[i]).length,
      ).toBeGreaterThanOrEqual(18);
      // Only the separate invocation counts as a deep call on Workers (inline stages do not).
      const stats = await until(
        "the deep call in the stats",
        async () => {
          const s = await admin(own, "/v2/models/mnist/stats");
          return s.totals.deep_calls.worker >= 1 && s;
        },
        20_000,
      );
      expect(stats.totals.deep_calls.worker).toBe(1);
    } finally {
      await own.stop();
    }
  });
});
