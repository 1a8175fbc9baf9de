import { describe, expect, it } from "vitest";
import { chooseVms, DEFAULT_SERVICE_MS, expectedWaitMs, handoverStage, poolCallMs, type VmView } from "./routing.js";
import { bucketOf, bucketValueMs, ewmaStats, quantileMs } from "./histogram.js";

const vm = (id: string, inflight: number, state: VmView["state"] = "running"): VmView => ({
  id,
  url: `http://${id}`,
  state,
  inflight,
  slots: 4,
});

describe("chooseVms", () => {
  it("skips full, booting and draining VMs", () => {
    const vms = [vm("full", 4), vm("boot", 0, "booting"), vm("drain", 0, "draining"), vm("ok", 1)];
    expect(chooseVms(vms, new Map()).map((v) => v.id)).toEqual(["ok"]);
  });
  it("prefers the less loaded of two random choices, counting this isolate's own calls", () => {
    const vms = [vm("a", 3), vm("b", 0)];
    expect(chooseVms(vms, new Map(), () => 0).map((v) => v.id)).toEqual(["b", "a"]);
    expect(chooseVms(vms, new Map([["b", 4]]), () => 0).map((v) => v.id)).toEqual(["a"]);
  });
  it("with a wait budget, sends to a full VM whose expected wait fits the admission limit, the shorter wait first", () => {
    // 4 slots, 10 ms per call: a VM with 4 served and 2 waiting expects (6 - 4 + 1) / 4 x 10 = 7.5 ms.
    const a = { ...vm("a", 4), queued: 2, serviceMs: 10 };
    const b = { ...vm("b", 4), queued: 10, serviceMs: 10 }; // (14 - 4 + 1) / 4 x 10 = 27.5 ms
    expect(chooseVms([a, b], new Map(), () => 0).map((v) => v.id)).toEqual([]);
    expect(chooseVms([a, b], new Map(), () => 0, 5).map((v) => v.id)).toEqual([]);
    expect(chooseVms([a, b], new Map(), () => 0, 10).map((v) => v.id)).toEqual(["a"]);
    // 7.5 ms fits a 10 ms budget but not a 5 ms limit (where a timed-out call would miss the SLO).
    expect(chooseVms([a, b], new Map(), () => 0, 10, 5).map((v) => v.id)).toEqual([]);
    expect(chooseVms([b, a], new Map(), () => 0, 30).map((v) => v.id)).toEqual(["a", "b"]);
    expect(chooseVms([b, a], new Map(), () => 0, 60, 15).map((v) => v.id)).toEqual(["a"]);
    // A free slot anywhere still wins over waiting.
    expect(chooseVms([a, vm("c", 3)], new Map(), () => 0, 30).map((v) => v.id)).toEqual(["c"]);
    // This isolate's own calls count when the heartbeat lags.
    expect(chooseVms([a], new Map([["a", 12]]), () => 0, 10).map((v) => v.id)).toEqual([]);
    expect(expectedWaitMs({ ...vm("d", 4), serviceMs: null }, 4)).toBe(DEFAULT_SERVICE_MS / 4);
  });
  it("returns nothing when there is no VM: the caller uses Workers", () => {
    expect(chooseVms([], new Map())).toEqual([]);
  });
});

describe("poolCallMs", () => {
  it("is the median of the VMs' reports, those that have none left out", () => {
    expect(poolCallMs([30, null, 10, undefined, 20, 0])).toBe(20);
    expect(poolCallMs([40, 10])).toBe(10); // of an even count, the lower middle one
    expect(poolCallMs([null, undefined])).toBeUndefined();
    expect(poolCallMs([])).toBeUndefined();
  });
});

describe("handoverStage", () => {
  it("hands over at the plan's VM group, else where the manifest allows; at stage 0 only if it may leave", () => {
    expect(handoverStage({ vmGroupStart: 2, vms: [] }, ["worker", "auto", "auto"])).toBe(2);
    expect(handoverStage({ vmGroupStart: 0, vms: [] }, ["auto", "auto", "auto"])).toBe(0);
    expect(handoverStage({ vmGroupStart: 0, vms: [] }, ["worker", "auto", "auto"])).toBe(1);
    expect(handoverStage({ vmGroupStart: null, vms: [] }, ["worker", "auto", "auto"])).toBe(1);
    expect(handoverStage({ vmGroupStart: null, vms: [] }, ["auto", "auto"])).toBe(1);
    expect(handoverStage({ vmGroupStart: null, vms: [] }, ["worker", "worker"])).toBe(2);
  });
});

describe("histogram", () => {
  it("quantiles are within a bucket's 10% of the truth", () => {
    const xs = Array.from({ length: 1000 }, (_, i) => 1 + i / 100);
    const counts = new Map<number, number>();
    for (const x of xs) counts.set(bucketOf(x), (counts.get(bucketOf(x)) ?? 0) + 1);
    const p50 = quantileMs([...counts], 0.5)!;
    const p99 = quantileMs([...counts], 0.99)!;
    expect(Math.abs(p50 / 6 - 1)).toBeLessThan(0.1);
    expect(Math.abs(p99 / 10.9 - 1)).toBeLessThan(0.1);
    expect(bucketValueMs(bucketOf(3))).toBeGreaterThan(3 / 1.1);
    expect(quantileMs([], 0.5)).toBeNull();
  });
  it("EWMA tracks a step and measures spread", () => {
    const flat = ewmaStats(Array(300).fill(10), 60);
    expect(flat.mean).toBeCloseTo(10);
    expect(flat.std).toBeCloseTo(0);
    const step = ewmaStats([...Array(300).fill(10), ...Array(300).fill(50)], 60);
    expect(step.mean).toBeGreaterThan(49);
    const noisy = ewmaStats(
      Array.from({ length: 600 }, (_, i) => (i % 2 ? 20 : 0)),
      60,
    );
    expect(noisy.mean).toBeCloseTo(10, 0);
    expect(noisy.std).toBeGreaterThan(8);
  });
});
