// Faults under load with real processes: a VM that hangs (SIGSTOP: it neither answers nor beats) and a
// VM killed with SIGKILL while two serve. No request may fail or be lost.
import { afterAll, describe, expect, it } from "vitest";
import { runLoad, DEFAULT_LOAD } from "../../scripts/load-gen.js";
import { admin, testStack, until } from "./helpers.js";

const CONFIG = {
  vm: { usd_per_hour: 0.00001, concurrency: 4, boot_s: 2, min: 2, max: 2 },
  slo_ms: 1000,
  control_period_s: 1,
};
let stack: Awaited<ReturnType<typeof testStack>> | null = null;
const stopped: number[] = [];
afterAll(async () => {
  for (const pid of stopped) {
    try {
      process.kill(pid, "SIGCONT");
    } catch {}
  }
  await stack?.stop();
});

describe("faults under load", () => {
  it("a hung VM and a killed VM lose no request", async () => {
    stack = await testStack(CONFIG, undefined, true, { SERFLOW_VM_TIMEOUT_MS: "400" });
    const s = stack;
    await until("two running VMs", async () => (await admin(s, "/v2/models/mnist/plan")).vms.running >= 2, 60_000);
    const faults = (async () => {
      await new Promise((r) => setTimeout(r, 4_000));
      const [hang, kill] = s.pool!.pids();
      process.kill(hang, "SIGSTOP"); // hangs mid-request: accepts connections, never answers
      stopped.push(hang);
      await new Promise((r) => setTimeout(r, 6_000));
      process.kill(kill, "SIGKILL");
      await new Promise((r) => setTimeout(r, 4_000));
      process.kill(hang, "SIGKILL"); // the pool replaces both
    })();
    const summary = await runLoad({
      ...DEFAULT_LOAD,
      url: s.url,
      rps: 60,
      durationS: 24,
      pattern: "steady",
      parameters: { exit_threshold: 1 },
    });
    await faults;
    expect(summary.failed, JSON.stringify(summary.statuses)).toBe(0);
    expect(summary.ok).toBe(summary.sent);
    expect(summary.routes["w0,v1,v2"]).toBeGreaterThan(0);
    expect(summary.routes["w0,w1,w2"]).toBeGreaterThan(0);
    // The hung VM cost at most the VM timeout per request it held.
    expect(summary.latencyMs.max).toBeLessThan(3_000);
    // Nothing lost from the books either: every answered request is counted, each row exited once.
    const stats = await until(
      "every request counted",
      async () => {
        const st = await admin(s, "/v2/models/mnist/stats");
        return st.requests >= summary.sent && st;
      },
      20_000,
    );
    expect(stats.requests).toBe(summary.sent);
    expect(stats.stages.reduce((a: number, st: any) => a + st.exits, 0)).toBe(summary.sent);
    // The pool brings the count back to vm.min.
    await until(
      "two running VMs again",
      async () => (await admin(s, "/v2/models/mnist/plan")).vms.running >= 2,
      60_000,
    );
  });
});
