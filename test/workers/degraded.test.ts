// The Worker when the control plane misbehaves: an unreachable controller leaves the last routing table
// (or no VMs) in use, and a failed stats flush is carried into the next one, not dropped.
import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { currentRouting } from "../../worker/routing-cache.js";
import { recordRequest, flushAll } from "../../worker/stats-buffer.js";
import { getModel } from "../../worker/models.js";

describe("degraded control plane", () => {
  it("an unreachable controller means no VMs (safe), never an error", async () => {
    const broken = { ...(env as any), CONTROLLER: { getByName: () => ({ routing: () => Promise.reject(new Error("controller unreachable")) }) } };
    const ctx = createExecutionContext();
    const table = await currentRouting(broken, ctx, "model-without-controller");
    await waitOnExecutionContext(ctx);
    expect(table).toEqual({ vmGroupStart: null, vms: [] });
  });

  it("a failed stats flush is carried into the next one", async () => {
    const m = getModel("mnist")!.manifest;
    let fail = true;
    const received: any[] = [];
    const flaky = { ...(env as any), STATS: { getByName: () => ({ record: async (b: any) => (fail ? Promise.reject(new Error("DO overloaded")) : received.push(b)) }) } };
    const ctx = createExecutionContext();
    for (let i = 0; i < 5; i++) recordRequest(ctx, flaky, m, "w0", 1, Date.now());
    await flushAll(flaky);
    await waitOnExecutionContext(ctx);
    expect(received).toHaveLength(0);
    fail = false;
    recordRequest(ctx, flaky, m, "w0", 1, Date.now());
    await flushAll(flaky);
    await waitOnExecutionContext(ctx);
    expect(received.reduce((a, b) => a + b.requests, 0)).toBe(6);
  });
});
