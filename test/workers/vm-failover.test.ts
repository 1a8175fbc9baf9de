// VMs that fail at the network edge (down, slow, wrong signature, full, garbage, an answer past the
// frame limit): every request is still answered, by Workers, from the hidden state it had.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import heldout from "../../models/mnist/heldout.json";
import { decodeHeldout } from "../../model/heldout-codec.js";
import { encodeFrame, decodeFrame } from "../../core/frame.js";
import { runStages } from "../../core/engine.js";
import { getModel } from "../../models/registry.js";
import { runnerFor } from "../../worker/ort.js";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { currentRouting, ROUTING_REFRESH_MS } from "../../worker/routing-cache.js";
import { flushAll } from "../../worker/stats-buffer.js";

const e = env as any;
const ex = exports as any;
const { labels, rows } = decodeHeldout(heldout as any);
const ADMIN = { authorization: `Bearer ${e.SERFLOW_ADMIN_TOKEN}` };
const call = (path: string, init?: RequestInit): Promise<{ status: number; json(): Promise<any> }> =>
  ex.default.fetch(new Request(`http://serflow${path}`, init));
const body = (from: number, n: number, parameters: Record<string, unknown>) =>
  JSON.stringify({
    inputs: [
      {
        name: "input",
        shape: [n, 784],
        datatype: "FP32",
        data: rows.slice(from, from + n).flatMap((r) => Array.from(r)),
      },
    ],
    parameters,
  });

describe("VM failures at the network edge", () => {
  it("answers every request on Workers when each VM is down, slow, refuses the signature, is full, answers garbage, lies or floods", async () => {
    const controller = e.CONTROLLER.getByName("mnist");
    const hosts = ["vm-down", "vm-slow", "vm-badsig", "vm-full", "vm-garbage", "vm-liar", "vm-flood"];
    await controller.setMembers(hosts.map((h) => ({ id: h, url: `https://${h}.test` })));
    for (const host of hosts) {
      await controller.heartbeat({ id: host, url: `https://${host}.test`, state: "running", inflight: 0, slots: 4 });
    }
    let n = 0;
    for (let i = 0; i < 12; i++) {
      const res = await call("/v2/models/mnist/infer", {
        method: "POST",
        body: body(i * 4, 4, { serflow_force: "vm", exit_threshold: 1 }),
      });
      expect(res.status).toBe(200);
      const out = await res.json();
      expect(out.parameters.serflow_route).toBe("w0,w1,w2");
      out.outputs[1].data.forEach((l: number, k: number) => (n += l === labels[i * 4 + k] ? 1 : 0));
    }
    expect(n / 48).toBeGreaterThan(0.9);
    const log = await (await fetch("http://vm-log.test/calls")).json<any>();
    // Power of two choices tried two VMs per request, every call signed.
    const tried = Object.values(log).reduce((a: number, c: any) => a + c.n, 0);
    expect(tried).toBe(24);
    expect(Object.values(log).every((c: any) => c.signed)).toBe(true);
    // Each frame names the VM it is for (its signature is under that VM's key).
    expect(Object.entries(log).every(([host, c]: [string, any]) => c.vm === host.replace(".test", ""))).toBe(true);
    expect(Object.keys(log).length).toBeGreaterThanOrEqual(4);
  }, 60_000);
});

describe("a VM's answer, beyond its fields", () => {
  /** `host` as the only VM, in the routing table of this isolate (refreshed once older than ROUTING_REFRESH_MS). */
  async function onlyVm(host: string) {
    const controller = e.CONTROLLER.getByName("mnist");
    await controller.setMembers([{ id: host, url: `https://${host}.test` }]);
    await controller.heartbeat({ id: host, url: `https://${host}.test`, state: "running", inflight: 0, slots: 4 });
    await new Promise((r) => setTimeout(r, ROUTING_REFRESH_MS + 100));
    const ctx = createExecutionContext();
    await currentRouting(e, ctx, "mnist");
    await waitOnExecutionContext(ctx);
    expect((await currentRouting(e, ctx, "mnist")).vms.map((v) => v.id)).toEqual([host]);
  }

  it("an answer longer than a right one for its rows is not read: 1 MB of extra members went to JSON.parse", async () => {
    await onlyVm("vm-padded");
    const res = await call("/v2/models/mnist/infer", {
      method: "POST",
      body: body(0, 1, { serflow_force: "vm", exit_threshold: 1 }),
    });
    expect(res.status).toBe(200);
    expect((await res.json()).parameters.serflow_route).toBe("w0,w1,w2");
  });

  it("an answer claiming more compute than its call took is refused: its rows go to Workers, its hour to no statistic", async () => {
    await onlyVm("vm-boaster");
    for (let i = 0; i < 3; i++) {
      const res = await call("/v2/models/mnist/infer", {
        method: "POST",
        headers: ADMIN, // the operator's override counts in the stats
        body: body(i, 1, { serflow_force: "vm", exit_threshold: 1 }),
      });
      expect(res.status).toBe(200);
      expect((await res.json()).parameters.serflow_route).toBe("w0,w1,w2");
    }
    // Taken, its three answers made the VM's stage 1 take 3,475,473 ms at p50 and p99 in /stats.
    await flushAll(e);
    const stats = await (await call("/v2/models/mnist/stats", { headers: ADMIN })).json();
    expect(stats.stages[1].service_ms.vm.p99 ?? 0).toBeLessThan(60_000);
  });
});

describe("DeepStages entrypoint", () => {
  it("runs the deep stages from a hidden-state frame in an invocation of its own, as inline does", async () => {
    const m = getModel("mnist")!;
    const runner = await runnerFor(m);
    const n = 6;
    const input = new Float32Array(rows.slice(0, n).flatMap((r) => Array.from(r)));
    const first = await runStages(runner, m.manifest, { stage: 0, rows: [0, 1, 2, 3, 4, 5], data: input }, 1, 1);
    const frame = encodeFrame(
      { model: "mnist", fromStage: 1, shape: [n, 16, 14, 14], exitThreshold: 1 },
      first.pending!.data,
    );
    expect(decodeFrame(frame).data.length).toBe(n * 16 * 14 * 14);
    const remote = await ex.DeepStages.run(frame);
    const inline = await runStages(runner, m.manifest, first.pending!, 3, 1);
    expect(remote.results.map((r: any) => r.label)).toEqual(
      [0, 1, 2, 3, 4, 5].map((i) => inline.results.get(i)!.label),
    );
    expect(remote.timings.map((t: any) => t.stage)).toEqual([1, 2]);
  });
});
