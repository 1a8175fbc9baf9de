// The baselines against their authors' figures: LIBRA run with the settings of LIBRA's own simulator on
// WITS, and LIBRA's rules ticked second by second.
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseControlConfig } from "../core/config.js";
import { idleView } from "./engine.js";
import { libra, LIBRA, makeController } from "./policies.js";
import { loadProfile, parseProfile } from "./profile.js";
import { simulate } from "./run.js";
import { loadTrace, traceFile } from "./trace.js";
import { Workload } from "./workload.js";

const WITS = traceFile("wits");

describe("libra", () => {
  // The trace lives beside the repository (../shared/traces, or SERFLOW_TRACES).
  it.skipIf(!existsSync(WITS))(
    "reproduces LIBRA's own simulator on WITS within 2%: FaaS-only $54.90, LIBRA $22.59 with 807,313 requests on FaaS; its VM autoscaler $35.09",
    () => {
      const profile = loadProfile(new URL("./profiles/libra-1s.json", import.meta.url).pathname);
      const out = simulate({
        traceFile: "wits",
        trace: loadTrace(WITS),
        profileName: profile.name,
        profile,
        policies: ["faas-only", "libra", "libra-vm-autoscale"],
        scale: 1,
        seed: 1,
        prices: "lambda",
        sloMs: 2000,
        bootS: 100,
        vmUsdPerHour: 0.1,
        vmConcurrency: 16,
        entry: "router",
        controlPeriodS: 10,
        extraConfig: { vm: { min_billed_s: 0 } },
      });
      const [faas, l, vmAuto] = out.results;
      expect(Math.abs(faas.cost_usd / 54.9 - 1)).toBeLessThan(0.02);
      expect(Math.abs(l.cost_usd / 22.59 - 1)).toBeLessThan(0.02);
      expect(Math.abs(l.faas_requests / 807_313 - 1)).toBeLessThan(0.02);
      // None queued: every VM request starts on arrival, so no request takes longer than its 1 s.
      expect(l.p99_ms).toBeLessThan(1010);
      expect(l.slo_attainment).toBe(1);
      expect(l.dropped).toBe(0);
      // LIBRA's own VM-only autoscaler: $35.09 in its simulator.
      expect(Math.abs(vmAuto.cost_usd / 35.09 - 1)).toBeLessThan(0.02);
    },
    60_000,
  );

  it("sizes VMs for mean + 1 deviation every 300 s, and raises the 80% quota only once the VMs are up", () => {
    const cfg = parseControlConfig({ vm: { concurrency: 16, boot_s: 100 }, entry: "router" });
    const profile = parseProfile({
      name: "one",
      stages: [{ exit_fraction: 1, vm_ms: { median: 1000, p99: 1000 }, faas_ms: { median: 1000, p99: 1000 } }],
    });
    const trace = Array(700).fill(100);
    const w = new Workload(trace, 1, profile, cfg, 1, 16);
    const arrivals = Int32Array.from(trace);
    const ctl = libra();
    const view = (t: number) => idleView(t, arrivals, new Int32Array(0), w, cfg);
    expect(ctl.decide(view(0))).toMatchObject({ vms: 0, vmQuotaPerS: 0 });
    // t = 1: mean 100, deviation 0: ceil(100 / 16) = 7 VMs, booting; no quota until t = 101.
    expect(ctl.decide(view(1))).toMatchObject({ vms: 7, vmQuotaPerS: 0 });
    for (let t = 2; t < 101; t++) expect(ctl.decide(view(t)).vmQuotaPerS).toBe(0);
    expect(ctl.decide(view(101))).toMatchObject({ vms: 7, vmQuotaPerS: Math.floor(100 * LIBRA.vmShare) });
    // A drop to 20 req/s: the EWMA decays every second; at t = 301 the quota falls at once.
    arrivals.fill(20, 200);
    let d = ctl.decide(view(102));
    for (let t = 103; t <= 301; t++) d = ctl.decide(view(t));
    let mean = 100;
    let dev = 0;
    for (let t = 1; t <= 301; t++) {
      const x = arrivals[t - 1];
      if (t > 1) {
        dev = 0.8 * dev + 0.2 * Math.abs(mean - x);
        mean = 0.8 * mean + 0.2 * x;
      }
    }
    const share = Math.floor(mean + dev);
    expect(d).toMatchObject({ vms: Math.ceil(share / 16), vmQuotaPerS: Math.floor(share * 0.8) });
  });
});

describe("serflow's start", () => {
  // One stage a VM serves far cheaper than Workers: at a steady 100 req/s its plan wants VMs.
  const cfg = parseControlConfig({
    vm: { usd_per_hour: 0.05, concurrency: 4, boot_s: 60 },
    entry: "router",
    prices: "lambda",
    control_period_s: 10,
  });
  const profile = parseProfile({
    name: "one",
    stages: [{ exit_fraction: 1, vm_ms: { median: 20, p99: 40 }, faas_ms: { median: 40, p99: 80 } }],
  });
  const trace = Array(1200).fill(100);
  const w = new Workload(trace, 1, profile, cfg, 1, 16);
  const view = (t: number, arrivals: Int32Array) => idleView(t, arrivals, new Int32Array(t), w, cfg);

  it("warm, as vm-autoscale and spock: the VMs its plan wants after a window at the first minute's rate are up at t = 0", () => {
    const warm = makeController("serflow", cfg.controlPeriodS);
    const n = warm.initialVms!(w, cfg);
    expect(n).toBeGreaterThan(0);
    // The same plan once the trace itself has filled the window.
    const later = makeController("serflow", cfg.controlPeriodS);
    later.initialVms!(w, cfg);
    expect(later.decide(view(600, Int32Array.from(trace))).vms).toBe(n);
  });

  it("a fresh deployment (no warm start) sees zeros before its first request: a 20-s-old load starts no VM yet", () => {
    const cold = makeController("serflow", cfg.controlPeriodS);
    expect(cold.decide(view(20, Int32Array.from(trace))).vms).toBe(0);
    // Warm, the same 20 s keep the VMs wanted before t = 0.
    const warm = makeController("serflow", cfg.controlPeriodS);
    const n = warm.initialVms!(w, cfg);
    expect(warm.decide(view(20, Int32Array.from(trace))).vms).toBe(n);
  });
});
