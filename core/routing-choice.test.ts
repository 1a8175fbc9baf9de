// Power of two choices, driven by a scripted random source: two different VMs, the less loaded first.
import { describe, expect, it } from "vitest";
import {
  chooseVms,
  drainCallTime,
  expectedWaitMs,
  handoverStage,
  recordWait,
  type VmView,
  WAIT_MEMORY,
  WAIT_PRIOR_PLACES,
} from "./routing.js";

const vm = (id: string, inflight: number, slots = 4): VmView => ({
  id,
  url: `http://${id}`,
  state: "running",
  inflight,
  slots,
});
const seq = (...xs: number[]) => {
  let i = 0;
  return () => xs[i++ % xs.length];
};
const none = new Map<string, number>();

describe("power of two choices", () => {
  const vms = [vm("a", 0), vm("b", 1), vm("c", 2), vm("d", 3)];
  it("draws two different VMs for every pair of draws", () => {
    for (const r1 of [0, 0.3, 0.6, 0.99])
      for (const r2 of [0, 0.4, 0.7, 0.99]) {
        const [x, y] = chooseVms(vms, none, seq(r1, r2));
        expect(x.id).not.toBe(y.id);
      }
  });

  it("maps the draws onto the free VMs: the first picks among all, the second among the others", () => {
    // a = floor(0.6 x 4) = 2 (c); b = floor(0.5 x 3) = 1 (b, below c, kept): b is less loaded, goes first.
    expect(chooseVms(vms, none, seq(0.6, 0.5)).map((v) => v.id)).toEqual(["b", "c"]);
    // a = 1 (b); b = floor(0.4 x 3) = 1, not below a: skips to 2 (c); b is less loaded.
    expect(chooseVms(vms, none, seq(0.26, 0.4)).map((v) => v.id)).toEqual(["b", "c"]);
    // a = 3 (d), b = floor(0.99 x 3) = 2 (c): c first.
    expect(chooseVms(vms, none, seq(0.99, 0.99)).map((v) => v.id)).toEqual(["c", "d"]);
  });

  it("keeps the drawn order when both are equally loaded", () => {
    const even = [vm("a", 1), vm("b", 1)];
    expect(chooseVms(even, none, seq(0.9, 0)).map((v) => v.id)).toEqual(["b", "a"]);
    expect(chooseVms(even, none, seq(0, 0)).map((v) => v.id)).toEqual(["a", "b"]);
  });

  it("a VM with one free slot is a choice; this isolate's own calls count when heartbeats lag", () => {
    expect(chooseVms([vm("a", 3, 4)], none).map((v) => v.id)).toEqual(["a"]);
    expect(chooseVms([vm("a", 0, 4)], new Map([["a", 4]]))).toEqual([]);
  });
});

describe("hand-over stage", () => {
  it("a VM group starting at stage 0 hands over after it where the manifest pins stage 0 to the Worker", () => {
    expect(handoverStage({ vmGroupStart: 0, vms: [] }, ["worker", "auto", "auto"])).toBe(1);
    expect(handoverStage({ vmGroupStart: 2, vms: [] }, ["worker", "auto", "auto"])).toBe(2);
    expect(handoverStage({ vmGroupStart: null, vms: [] }, ["worker", "worker", "worker"])).toBe(3);
    expect(handoverStage({ vmGroupStart: null, vms: [] }, ["vm", "vm"])).toBe(1);
  });
});

describe("a VM's call time per queue place (drainCallTime)", () => {
  it("before any call has waited: the mean call time", () => {
    expect(WAIT_PRIOR_PLACES).toBe(5);
    expect(drainCallTime({ waited: 0, places: 0 }, 12, 2)).toBe(12);
  });
  it("waits measured against their places pull it to k x waits / places, past the prior's 5 places", () => {
    // 2 slots, mean call 10 ms: a call 2 places back expects 10 ms and waited 60 (a long call ahead).
    const c = { waited: 0, places: 0 };
    recordWait(c, 60, 2);
    expect(drainCallTime(c, 10, 2)).toBeCloseTo((2 * 60 + 5 * 10) / (2 + 5), 12); // 24.3 ms
    // Many such calls: the sums settle at 60 / (1 - WAIT_MEMORY) ms over 2 / (1 - WAIT_MEMORY) places, and
    // the prior's 5 places at 10 ms pull 60 ms per place over 2 slots down to 58.8.
    for (let i = 0; i < 2000; i++) recordWait(c, 60, 2);
    const settled = (2 * 60 + 5 * 10 * (1 - WAIT_MEMORY)) / (2 + 5 * (1 - WAIT_MEMORY));
    expect(drainCallTime(c, 10, 2)).toBeCloseTo(settled, 6);
    expect(settled).toBeCloseTo(58.78, 2);
  });
  it("older waits fade by WAIT_MEMORY per call queued since", () => {
    const c = { waited: 0, places: 0 };
    recordWait(c, 100, 1);
    recordWait(c, 10, 1);
    expect(c).toEqual({ waited: 100 * WAIT_MEMORY + 10, places: WAIT_MEMORY + 1 });
  });
});

describe("waiting for a slot", () => {
  const full = (id: string, serviceMs: number): VmView => ({ ...vm(id, 4), serviceMs });
  it("a VM with a free slot expects no wait, however few calls it has", () => {
    for (const load of [0, 1, 3]) expect(expectedWaitMs(full("a", 20), load)).toBe(0);
    expect(expectedWaitMs(full("a", 20), 4)).toBe(5); // first in the queue: a quarter of 20 ms
  });
  it("a wait exactly the admission limit fits; a call with no budget never goes to a full VM, even one at 0 ms", () => {
    expect(chooseVms([full("a", 20)], none, seq(0), 10, 5).map((v) => v.id)).toEqual(["a"]);
    expect(chooseVms([full("a", 20)], none, seq(0), 10, 4.999)).toEqual([]);
    expect(chooseVms([full("a", 0)], none, seq(0), 0)).toEqual([]);
    expect(chooseVms([full("a", 0)], none, seq(0), 0, 5)).toEqual([]);
  });
  it("without an admission limit (a table from an older controller) the whole budget admits", () => {
    expect(chooseVms([full("a", 20)], none, seq(0), 5).map((v) => v.id)).toEqual(["a"]);
    expect(chooseVms([full("a", 20)], none, seq(0), 4.999)).toEqual([]);
  });
  it("a limit above the budget admits no more than the budget", () => {
    expect(chooseVms([full("a", 20)], none, seq(0), 4.999, 10)).toEqual([]);
  });
});
