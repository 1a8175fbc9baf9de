// `npm run demo`, shortened: the stack comes up with demo-priced VMs, a VM boots and takes deep stages,
// the demo prints the plan, routes, VMs and cost as it goes, and leaves no process behind.
import { describe, expect, it } from "vitest";
import { DEMO_OPTIONS, runDemo } from "../../scripts/demo.js";

describe("npm run demo", () => {
  it("shows deep stages moving to a VM, cheaper than all on Workers, and stops everything", async () => {
    const lines: string[] = [];
    const r = await runDemo({ ...DEMO_OPTIONS, loadS: 40, drainS: 0, log: (l) => lines.push(l) });
    expect(r.load.failed).toBe(0);
    expect(r.load.ok).toBe(r.load.sent);
    expect(r.vmRows).toBeGreaterThan(0);
    expect(r.maxVmsRunning).toBeGreaterThanOrEqual(1);
    expect(r.costUsd).toBeGreaterThan(0);
    expect(r.allWorkersUsd).toBeGreaterThan(r.costUsd);
    expect(r.leftoverProcesses).toBe(0);
    const out = lines.join("\n");
    expect(out).toMatch(/plan: VM group stages 1-2/);
    expect(out).toMatch(/stages 1,2 on VMs .*deep stages on a VM +\d+\.\d%.*VMs desired 1 running 1/);
    expect(out).toMatch(/\[pool\] started local-mnist-1/);
  });
});
