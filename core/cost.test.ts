import { describe, expect, it } from "vitest";
import {
  billedMs,
  compareCosts,
  costByTier,
  faasBillUsd,
  faasComputeUsd,
  faasInvocationUsd,
  faasRequestUsd,
  faasWaitUsd,
  LAMBDA_PRICES,
  vmBilledS,
  vmUsd,
  vmUsdPerS,
  WORKERS_PRICES,
} from "./cost.js";

describe("cost model", () => {
  it("Workers: $0.30 per million requests and $0.02 per million CPU-ms, wall time free", () => {
    expect(faasRequestUsd(WORKERS_PRICES)).toBeCloseTo(0.3e-6, 15);
    expect(faasComputeUsd(WORKERS_PRICES, 1000)).toBeCloseTo(0.02e-3, 15);
    expect(faasWaitUsd(WORKERS_PRICES, 1000)).toBe(0);
    expect(faasInvocationUsd(WORKERS_PRICES, 2.5)).toBeCloseTo(0.3e-6 + 2.5 * 0.02e-6, 15);
  });
  it("Lambda: $0.20 per million requests and GB-s of wall time, rounded up to 1 ms", () => {
    // 1024 MB for 1 s = 1 GB-s.
    expect(faasComputeUsd(LAMBDA_PRICES, 1000)).toBeCloseTo(0.0000166667, 12);
    expect(faasWaitUsd(LAMBDA_PRICES, 500)).toBeCloseTo(0.0000166667 / 2, 12);
    expect(billedMs(LAMBDA_PRICES, 2.1)).toBe(3);
    expect(faasInvocationUsd(LAMBDA_PRICES, 2.1)).toBeCloseTo(0.2e-6 + 0.003 * 0.0000166667, 15);
  });
  it("VMs are billed per second with a minimum", () => {
    expect(vmUsdPerS(0.085)).toBeCloseTo(0.085 / 3600, 15);
    expect(vmUsd(0.085, 7200)).toBeCloseTo(0.17, 12);
    expect(vmBilledS(10.2, 60)).toBe(60);
    expect(vmBilledS(100.2, 60)).toBe(101);
    expect(vmBilledS(100, 0)).toBe(100);
  });
  it("cost by tier adds the deep invocations' fees", () => {
    const c = costByTier(
      { requests: 1e6, workerDeepCalls: 1e6, workerComputeMs: 1e6, vmSeconds: 3600, doRequests: 1e6 },
      WORKERS_PRICES,
      0.1,
    );
    expect(c.worker).toBeCloseTo(0.6 + 0.02, 10);
    expect(c.vm).toBeCloseTo(0.1, 10);
    expect(c.control).toBeCloseTo(0.15, 10);
  });

  it("GB-s scale with memory, and billed time rounds up to the increment", () => {
    const p = { ...LAMBDA_PRICES, memoryMb: 2048, billingIncrementMs: 100 };
    // 2 GB for 0.5 s = 1 GB-s, whether computing or waiting.
    expect(faasComputeUsd(p, 500)).toBeCloseTo(0.0000166667, 12);
    expect(faasWaitUsd(p, 500)).toBeCloseTo(0.0000166667, 12);
    expect(billedMs(p, 101)).toBe(200);
    expect(billedMs(p, 100)).toBe(100);
    expect(billedMs({ ...p, billingIncrementMs: 0 }, 101.5)).toBe(101.5);
    expect(faasInvocationUsd(p, 101)).toBeCloseTo(0.2e-6 + 0.2 * 2 * 0.0000166667, 15);
  });

  it("compares the bill with all on Workers (VM runs at the Worker's mean ms) and an always-on VM fleet", () => {
    const usage = {
      requests: 1e6,
      workerDeepCalls: 0,
      vmDeepCalls: 1e5,
      workerComputeMs: 2e6,
      vmSeconds: 3600,
      doRequests: 0,
      // Stage 0 always on Workers (1 ms a run); stage 1 on Workers 4 ms a run, 1e5 of its runs on VMs at 2 ms.
      stages: [
        { workerRuns: 1e6, workerMs: 1e6, vmRuns: 0, vmMs: 0 },
        { workerRuns: 2.5e5, workerMs: 1e6, vmRuns: 1e5, vmMs: 2e5 },
      ],
      elapsedS: 7200,
      peakRps: 1000,
    };
    const vm = { costUsdPerHour: 0.1, slots: 4, min: 0 };
    const c = compareCosts(usage, WORKERS_PRICES, vm, "inline");
    expect(c.actualUsd).toBeCloseTo(0.3 + 0.04 + 0.1, 10);
    // The 1e5 VM runs would have cost 4 ms each on Workers: 4e5 CPU-ms more, no extra fee inline.
    expect(c.allWorkersUsd).toBeCloseTo(0.3 + (2.4e6 * 0.02) / 1e6, 10);
    expect(compareCosts(usage, WORKERS_PRICES, vm, "separate").allWorkersUsd).toBeCloseTo(c.allWorkersUsd + 0.03, 10);
    // A request needs 1 ms + 0.35 x 2 ms of VM time = 1.7 ms; 1000 req/s x 1.7 ms / 4 slots -> 1 VM for 2 h.
    expect(c.vmOnlyVms).toBe(1);
    expect(c.vmOnlyUsd).toBeCloseTo(0.2, 10);
    expect(compareCosts({ ...usage, peakRps: 10_000 }, WORKERS_PRICES, vm, "inline").vmOnlyVms).toBe(5);
    // Production Workers read 0 ms of compute: the VM's 2 ms a run stands in for the moved runs.
    const frozen = { ...usage, workerComputeMs: 0, stages: usage.stages.map((s) => ({ ...s, workerMs: 0 })) };
    expect(compareCosts(frozen, WORKERS_PRICES, vm, "inline").allWorkersUsd).toBeCloseTo(0.3 + (2e5 * 0.02) / 1e6, 10);
  });
  it("a bill of many invocations is the sum of their single bills (fees, CPU-ms, billed wall time)", () => {
    // Workers: 3 invocations of 2.3 CPU-ms; the wall time is not billed.
    expect(faasBillUsd(WORKERS_PRICES, 3, 3 * 2.3, 999)).toBeCloseTo(3 * faasInvocationUsd(WORKERS_PRICES, 2.3), 15);
    // Lambda: 3 invocations of 2.3 ms wall, each billed as 3 ms; CPU time is not billed.
    const billed = 3 * billedMs(LAMBDA_PRICES, 2.3);
    expect(billed).toBe(9);
    expect(faasBillUsd(LAMBDA_PRICES, 3, 999, billed)).toBeCloseTo(3 * faasInvocationUsd(LAMBDA_PRICES, 2.3), 15);
    expect(faasBillUsd(WORKERS_PRICES, 0, 0, 0)).toBe(0);
  });

  it("before any request, the VM-only fleet is vm.min VMs (at least 1) for the time up", () => {
    const idle = {
      requests: 0,
      workerDeepCalls: 0,
      vmDeepCalls: 0,
      workerComputeMs: 0,
      vmSeconds: 0,
      doRequests: 0,
      stages: [{ workerRuns: 0, workerMs: 0, vmRuns: 0, vmMs: 0 }],
      elapsedS: 3600,
      peakRps: 0,
    };
    const c = compareCosts(idle, WORKERS_PRICES, { costUsdPerHour: 0.1, slots: 4, min: 0 }, "inline");
    expect([c.actualUsd, c.allWorkersUsd, c.vmOnlyVms, c.vmOnlyUsd]).toEqual([0, 0, 1, 0.1]);
    expect(compareCosts(idle, WORKERS_PRICES, { costUsdPerHour: 0.1, slots: 4, min: 3 }, "inline").vmOnlyVms).toBe(3);
  });
  it("the control plane's Durable Object requests are in the actual bill and in the all-Workers one", () => {
    const usage = {
      requests: 0,
      workerDeepCalls: 0,
      vmDeepCalls: 0,
      workerComputeMs: 0,
      vmSeconds: 0,
      doRequests: 2e6,
      stages: [],
      elapsedS: 0,
      peakRps: 0,
    };
    const c = compareCosts(usage, WORKERS_PRICES, { costUsdPerHour: 0.1, slots: 4, min: 0 }, "inline");
    expect(c.actualUsd).toBeCloseTo(0.3, 12); // 2e6 x $0.15 per million
    expect(c.allWorkersUsd).toBeCloseTo(0.3, 12);
  });
});
