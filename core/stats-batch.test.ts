import { describe, expect, it } from "vitest";
import { addObservation, emptyBatch } from "./stats-batch.js";

describe("addObservation", () => {
  it("adds a request's stage runs, deep call and route in one step", () => {
    const b = emptyBatch("m", 3);
    const nowMs = 1_700_000_000_500;
    addObservation(b, nowMs, {
      route: "w0,v1,v2",
      rows: 4,
      latencyMs: 12,
      runs: [
        { stage: 0, tier: "worker", rows: 4, exits: 1, ms: 0.5 },
        { stage: 1, tier: "vm", rows: 3, exits: 2, ms: 2 },
        { stage: 2, tier: "vm", rows: 1, exits: 1, ms: 3 },
      ],
      deepCall: { tier: "vm", wallMs: 9, computeMs: 5 },
    });
    addObservation(b, nowMs, { route: "w0", rows: 1, latencyMs: 2, runs: [], deepCall: null });
    expect(b.stages.map((s) => [s.arrivals, s.exits])).toEqual([
      [4, 1],
      [3, 2],
      [1, 1],
    ]);
    expect(b.computeMs).toEqual({ worker: 0.5, vm: 5 });
    expect(b.deepCalls).toEqual({ worker: 0, vm: 1 });
    expect(b.queueMs.vm).toEqual([4]);
    expect(b.routes).toEqual({ "w0,v1,v2": 4, w0: 1 });
    expect(b.requests).toBe(2);
    expect(b.perSecond).toEqual({ "1700000000": 2 });
    expect(b.latencyMs).toEqual([12, 2]);
  });
});
