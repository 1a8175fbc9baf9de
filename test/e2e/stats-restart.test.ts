// Control plane end to end: 1,000 real requests, the stats add up and match the model's own figures,
// and survive a restart of the local server (Durable Object storage on disk), as does the controller's
// plan state.
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { admin, heldout, testStack, until } from "./helpers.js";

const metrics = JSON.parse(readFileSync(new URL("../../models/mnist/metrics.json", import.meta.url), "utf8"));
let stack: Awaited<ReturnType<typeof testStack>> | null = null;
afterAll(async () => {
  await stack?.stop();
});

async function send(url: string, n: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const res = await fetch(`${url}/v2/models/mnist/infer`, {
        method: "POST",
        body: JSON.stringify({
          inputs: [
            {
              name: "input",
              shape: [1, 784],
              datatype: "FP32",
              data: Array.from(heldout.rows[i % heldout.rows.length]),
            },
          ],
        }),
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

describe("stats after 1,000 requests, and after a restart", () => {
  it("adds up, matches the model's exit figures, and survives the restart", async () => {
    stack = await testStack({ control_period_s: 1 }, undefined, false);
    await send(stack.url, 1000);
    const stats = await until(
      "1,000 requests in the stats",
      async () => {
        const s = await admin(stack!, "/v2/models/mnist/stats");
        return s.requests >= 1000 && s;
      },
      20_000,
    );
    expect(stats.requests).toBe(1000);
    expect(stats.stages[0].arrivals).toBe(1000);
    expect(stats.stages.reduce((a: number, s: any) => a + s.exits, 0)).toBe(1000);
    // The share exiting at each stage matches what the model build measured on held-out digits.
    stats.stages.forEach((s: any, i: number) =>
      expect(Math.abs(s.exits / 1000 - metrics.exit_fractions_by_stage[i])).toBeLessThan(0.05),
    );
    expect(stats.ingestion_rps.mean).toBeGreaterThan(0);
    expect(stats.stages[0].service_ms.worker.p50).not.toBeNull();
    // /metrics parses as Prometheus text and agrees with the stats endpoint.
    const text = await (
      await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${stack.adminToken}` } })
    ).text();
    const families = parsePrometheusTextFormat(text) as any[];
    const value = (name: string, labels: Record<string, string> = {}) =>
      Number(
        families
          .find((f) => f.name === name)
          ?.metrics.find((m: any) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value,
      );
    expect(value("serflow_requests_total", { model: "mnist" })).toBe(stats.requests);
    stats.stages.forEach((s: any) => {
      expect(value("serflow_stage_arrivals_total", { model: "mnist", stage: String(s.stage) })).toBe(s.arrivals);
      expect(value("serflow_stage_exits_total", { model: "mnist", stage: String(s.stage) })).toBe(s.exits);
    });
    const compute = families.find((f) => f.name === "serflow_compute_seconds");
    expect(compute.type).toBe("HISTOGRAM");
    // One cost series per tier for each model (every folder under models/ is served).
    const costs = families.find((f) => f.name === "serflow_cost_usd_total").metrics;
    expect(costs.filter((m: any) => m.labels.model === "mnist").length).toBe(3);
    const plan = await admin(stack, "/v2/models/mnist/plan");
    expect(plan.stages).toHaveLength(3);
    expect(plan.reason).toMatch(/Workers|VM/);
    const planBefore = await until(
      "5 control periods",
      async () => {
        const p = await admin(stack!, "/v2/models/mnist/plan");
        return p.ticks_total >= 5 && p;
      },
      20_000,
    );

    const persistDir = stack.persistDir;
    const workerd = stack.workerPid;
    expect(workerd).not.toBeNull();
    await stack.stop();
    expect(() => process.kill(workerd!, 0)).toThrow(); // stop() leaves no workerd behind
    stack = await testStack({ control_period_s: 1 }, persistDir, false);
    // A controller that lost its state would count its ticks from 0 again.
    const planAfter = await admin(stack, "/v2/models/mnist/plan");
    expect(planAfter.ticks_total).toBeGreaterThanOrEqual(planBefore.ticks_total);
    expect(planAfter.stages.map((s: any) => s.stage)).toEqual([0, 1, 2]);
    expect(Date.parse(planAfter.computed_at)).toBeGreaterThanOrEqual(Date.parse(planBefore.computed_at));
    const after = await admin(stack, "/v2/models/mnist/stats");
    expect(after.requests).toBe(1000);
    expect(after.stages.map((s: any) => s.arrivals)).toEqual(stats.stages.map((s: any) => s.arrivals));
  });
});
