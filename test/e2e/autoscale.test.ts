// Routing, VM pool, cold starts and failover end to end with the local provider: a load step makes the
// controller start a VM; Workers serve until it registers and the VM after; a VM killed with SIGKILL
// under load loses no request; after the load the VM is scaled down once the hysteresis has passed.
// The VM price is set so low that VMs pay off for this light model (DESIGN.md section 4).
import { afterAll, describe, expect, it } from "vitest";
import { runLoad, DEFAULT_LOAD } from "../../scripts/load-gen.js";
import { admin, testStack, until } from "./helpers.js";

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
    let killed = 0;
    const killer = (async () => {
      // Once a VM serves, kill it mid-load.
      await until("a running VM", async () => (await admin(s, "/v2/models/mnist/plan")).vms.running >= 1, 40_000);
      await new Promise((r) => setTimeout(r, 3_000));
      for (const pid of s.pool!.pids()) {
        process.kill(pid, "SIGKILL");
        killed++;
      }
    })();
    const summary = await runLoad({
      ...DEFAULT_LOAD,
      url: s.url,
      rps: 80,
      durationS: 30,
      pattern: "steady",
      parameters: { exit_threshold: 1 },
    });
    await killer;
    clearInterval(poll);

    expect(killed).toBeGreaterThanOrEqual(1);
    expect(summary.failed, JSON.stringify(summary.statuses)).toBe(0);
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
