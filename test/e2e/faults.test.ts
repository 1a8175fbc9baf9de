// Faults under load with real processes: a VM that hangs (SIGSTOP: it neither answers nor beats) and a
// VM killed with SIGKILL while two serve. No request may fail or be lost.
import { afterAll, describe, expect, it } from "vitest";
import { admin, deepLoad, routeRows, testStack, until, vmProcesses, vmState } from "./helpers.js";

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
    // The load runs until the faults have played out; each fault waits for the state it needs, not for time.
    const stopLoad = new AbortController();
    const load = deepLoad(s, 60, 150, stopLoad.signal);
    try {
      await until("the VMs serving the deep stages", async () => (await routeRows(s, "w0,v1,v2")) > 0, 60_000);
      const [hang, kill] = vmProcesses(s);
      process.kill(hang.pid, "SIGSTOP"); // hangs mid-request: accepts connections, never answers
      stopped.push(hang.pid);
      await until("the hung VM declared dead", async () => (await vmState(s, hang.id)) === "dead", 30_000);
      process.kill(kill.pid, "SIGKILL");
      await until("the killed VM declared dead", async () => (await vmState(s, kill.id)) === "dead", 30_000);
      process.kill(hang.pid, "SIGKILL"); // the pool replaces both
      await until(
        "two new VMs running",
        async () =>
          (await admin(s, "/v2/models/mnist/plan")).vms.instances.filter(
            (v: any) => v.state === "running" && v.id !== hang.id && v.id !== kill.id,
          ).length >= 2,
        60_000,
      );
      const servedBefore = await routeRows(s, "w0,v1,v2");
      await until("the new VMs serving", async () => (await routeRows(s, "w0,v1,v2")) > servedBefore, 30_000);
    } finally {
      stopLoad.abort();
    }
    const summary = await load;
    expect(summary.failed, `statuses ${JSON.stringify(summary.statuses)}`).toBe(0);
    expect(summary.ok).toBe(summary.sent);
    expect(summary.routes["w0,v1,v2"]).toBeGreaterThan(0);
    expect(summary.routes["w0,w1,w2"]).toBeGreaterThan(0);
    // The hung VM cost at most the VM timeout per request it held.
    expect(summary.latencyMs.max, `latency ${JSON.stringify(summary.latencyMs)}`).toBeLessThan(3_000);
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
  });
});
