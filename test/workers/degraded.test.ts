// The Worker when the control plane misbehaves: an unreachable controller leaves the last routing table
// (or no VMs) in use, and a failed stats flush is carried into the next one, not dropped.
import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { currentRouting } from "../../worker/routing-cache.js";
import { recordRequest, flushAll } from "../../worker/stats-buffer.js";
import { getModel } from "../../models/registry.js";
import worker from "../../worker/index.js";
import heldout from "../../models/mnist/heldout.json";
import { decodeHeldout } from "../../model/heldout-codec.js";

const { labels, rows } = decodeHeldout(heldout as any);
/** One answered single-row request that ran nothing worth a sample. */
const W0 = { route: "w0", rows: 1, latencyMs: 0, runs: [], deepCall: null };

describe("degraded control plane", () => {
  it("an unreachable controller means no VMs (safe), never an error", async () => {
    const broken = {
      ...(env as any),
      CONTROLLER: { getByName: () => ({ routing: () => Promise.reject(new Error("controller unreachable")) }) },
    };
    const ctx = createExecutionContext();
    const table = await currentRouting(broken, ctx, "model-without-controller");
    await waitOnExecutionContext(ctx);
    expect(table).toEqual({ vmGroupStart: null, vms: [] });
  });

  it("a failed stats flush is carried into the next one", async () => {
    const m = getModel("mnist")!.manifest;
    let fail = true;
    const received: any[] = [];
    const flaky = {
      ...(env as any),
      STATS: {
        getByName: () => ({
          record: async (b: any) => (fail ? Promise.reject(new Error("DO overloaded")) : received.push(b)),
        }),
      },
    };
    const ctx = createExecutionContext();
    for (let i = 0; i < 5; i++) recordRequest(ctx, flaky, m, W0);
    await flushAll(flaky);
    await waitOnExecutionContext(ctx);
    expect(received).toHaveLength(0);
    fail = false;
    recordRequest(ctx, flaky, m, W0);
    await flushAll(flaky);
    await waitOnExecutionContext(ctx);
    expect(received.reduce((a, b) => a + b.requests, 0)).toBe(6);
  });

  it("under a load with the controller and the stats DO both unreachable, every request is answered and none goes uncounted", async () => {
    let statsDown = true;
    const received: any[] = [];
    const broken = {
      ...(env as any),
      CONTROLLER: { getByName: () => ({ routing: () => Promise.reject(new Error("controller unreachable")) }) },
      STATS: {
        getByName: () => ({
          record: async (b: any) => (statsDown ? Promise.reject(new Error("stats unreachable")) : received.push(b)),
        }),
      },
    };
    const N = 120;
    const ctx = createExecutionContext();
    const answers = await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const body = JSON.stringify({
          inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: Array.from(rows[i]) }],
        });
        const res = await worker.fetch(
          new Request("http://serflow/v2/models/mnist/infer", { method: "POST", body }),
          broken,
          ctx,
        );
        return { status: res.status, out: (await res.json()) as any };
      }),
    );
    await waitOnExecutionContext(ctx);
    expect(answers.map((a) => a.status)).toEqual(Array(N).fill(200));
    const correct = answers.filter((a, i) => a.out.outputs[1].data[0] === labels[i]).length;
    expect(correct / N).toBeGreaterThan(0.93);
    expect(received).toHaveLength(0);
    // The stats DO comes back: the counts held over the outage arrive in full.
    statsDown = false;
    await flushAll(broken);
    expect(received.reduce((a, b) => a + b.requests, 0)).toBe(N);
  });
});
