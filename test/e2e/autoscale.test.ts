// Routing, VM pool, cold starts and failover end to end with the local provider: a load step makes the
// controller start a VM; Workers serve until it registers and the VM after; a VM killed with SIGKILL
// under load loses no request; after the load the VM is scaled down once the hysteresis has passed.
// The VM price is set so low that VMs pay off for this light model (DESIGN.md section 4).
import { afterAll, describe, expect, it } from "vitest";
import { admin, deepLoad, routeRows, testStack, until, vmProcesses } from "./helpers.js";

// A short rate window so the test sees the scale-down within a minute of the load ending.
const CONFIG = {
  vm: { usd_per_hour: 0.00001, concurrency: 4, boot_s: 4, min: 0, max: 2 },
  slo_ms: 1000,
  control_period_s: 1,
  scale_down_delay_s: 8,
  window_s: 40,
};
let stack: Awaited<ReturnType<typeof testStack>> | null = null;
afterAll(async () => {
  await stack?.stop();
});

describe("autoscaled VMs with cold starts and failover", () => {
  it("boots a VM under load, routes through Workers until it runs, survives SIGKILL, scales down after", async () => {
    stack = await testStack(CONFIG);
    const s = stack;
    const seen = { booting: 0, running: 0 };
    const poll = setInterval(async () => {
      const p = await admin(s, "/v2/models/mnist/plan").catch(() => null);
      if (p) {
        seen.booting = Math.max(seen.booting, p.vms.booting);
        seen.running = Math.max(seen.running, p.vms.running);
      }
    }, 300);
    // The load runs until the state under test has happened (each step waits for what it needs, not for
    // time): a VM serves, is killed mid-load, and a replacement serves in its place.
    const stopLoad = new AbortController();
    const load = deepLoad(s, 80, 150, stopLoad.signal);
    let killed = 0;
    try {
      await until("a VM serving the deep stages", async () => (await routeRows(s, "w0,v1,v2")) > 0, 60_000);
      const victims = vmProcesses(s);
      for (const { pid } of victims) {
        process.kill(pid, "SIGKILL");
        killed++;
      }
      await until(
        "a replacement VM running",
        async () =>
          (await admin(s, "/v2/models/mnist/plan")).vms.instances.some(
            (v: any) => v.state === "running" && !victims.some((k) => k.id === v.id),
          ),
        60_000,
      );
      // Read once only the replacement can serve (rows the killed VM served are flushed by now).
      const servedBefore = await routeRows(s, "w0,v1,v2");
      await until("the replacement serving", async () => (await routeRows(s, "w0,v1,v2")) > servedBefore, 30_000);
    } finally {
      stopLoad.abort();
    }
    const summary = await load;
    clearInterval(poll);

    expect(killed).toBeGreaterThanOrEqual(1);
    expect(summary.failed, `statuses ${JSON.stringify(summary.statuses)}`).toBe(0);
    expect(summary.ok).toBe(summary.sent);
    expect(seen.booting).toBeGreaterThanOrEqual(1);
    expect(seen.running).toBeGreaterThanOrEqual(1);
    // Workers carried the boot gap and the failover, VMs the rest.
    expect(summary.routes["w0,w1,w2"]).toBeGreaterThan(0);
    expect(summary.routes["w0,v1,v2"]).toBeGreaterThan(0);

    // No load: the target drops, and after the hysteresis the pool follows.
    const down = await until(
      "the pool scaled to zero",
      async () => {
        const p = await admin(s, "/v2/models/mnist/plan");
        return p.vms.desired === 0 && p.vms.running === 0 && p;
      },
      90_000,
    );
    expect(down.reason).toMatch(/Workers/);
  });
});
