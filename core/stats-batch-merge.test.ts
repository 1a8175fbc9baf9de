// Rules of the per-isolate stats batch: every count is added once, a flush carried into the next one
// adds to it (the same second counted by two batches is the sum), and samples stay capped and unbiased.
import { describe, expect, it } from "vitest";
import {
  addDeepCall,
  addRequest,
  addSample,
  emptyBatch,
  isEmpty,
  MAX_SAMPLES_PER_BATCH,
  mergeBatch,
  type StatsBatch,
} from "./stats-batch.js";

const SECOND_MS = 1_700_000_000_000;

function batchOf(requests: Array<[nowMs: number, route: string, rows: number]>): StatsBatch {
  const b = emptyBatch("m", 2);
  for (const [t, route, rows] of requests) addRequest(b, t, route, rows, 5);
  return b;
}

describe("stats batch", () => {
  it("counts requests per wall-clock second, by the floor of the time", () => {
    const b = batchOf([
      [SECOND_MS, "w0", 1],
      [SECOND_MS + 999, "w0", 1],
      [SECOND_MS + 1_000, "w0", 1],
    ]);
    expect(b.perSecond).toEqual({ "1700000000": 2, "1700000001": 1 });
    expect(b.requests).toBe(3);
  });

  it("two batches that count the same second add up when merged", () => {
    const a = batchOf([
      [SECOND_MS + 100, "w0", 1],
      [SECOND_MS + 200, "w0,v1", 3],
    ]);
    const b = batchOf([
      [SECOND_MS + 300, "w0,v1", 2],
      [SECOND_MS + 1_300, "w0", 1],
    ]);
    mergeBatch(a, b);
    expect(a.perSecond).toEqual({ "1700000000": 3, "1700000001": 1 });
    expect(a.requests).toBe(4);
    // Routes count rows, not requests, and add across batches too.
    expect(a.routes).toEqual({ w0: 2, "w0,v1": 5 });
    // The sum of the per-second counts is the request count: no second is counted twice or lost.
    expect(Object.values(a.perSecond).reduce((x, y) => x + y, 0)).toBe(a.requests);
  });

  it("a merge adds every counter once and leaves the batch merged from unchanged", () => {
    const a = emptyBatch("m", 2);
    const b = emptyBatch("m", 2);
    addSample(a, 0, "worker", 4, 1, 2);
    addSample(b, 0, "worker", 3, 2, 5);
    addSample(b, 1, "vm", 1, 1, 7);
    addDeepCall(a, "vm", 10, 7);
    addDeepCall(b, "vm", 4, 1);
    addDeepCall(b, "worker", 3, 3);
    a.failures = 1;
    b.failures = 2;
    const before = structuredClone(b);
    mergeBatch(a, b);
    expect(b).toEqual(before);
    expect(a.stages.map((s) => [s.arrivals, s.exits, s.runs.worker, s.runs.vm])).toEqual([
      [7, 3, 2, 0],
      [1, 1, 0, 1],
    ]);
    expect(a.stages[0].serviceMs.worker).toEqual([2, 5]);
    expect(a.stages[1].serviceMs.vm).toEqual([7]);
    expect(a.computeMs).toEqual({ worker: 7, vm: 7 });
    expect(a.deepCalls).toEqual({ worker: 1, vm: 2 });
    // Queueing is wall time minus compute, never negative.
    expect(a.queueMs).toEqual({ worker: [0], vm: [3, 3] });
    expect(a.failures).toBe(3);
    const c = emptyBatch("m", 2);
    addRequest(c, SECOND_MS, "w0", 1, 9);
    mergeBatch(a, c);
    expect(a.latencyMs).toEqual([9]);
  });

  it("a stage's exits and runs land on that stage and tier; an unknown stage is ignored", () => {
    const b = emptyBatch("m", 2);
    addSample(b, 1, "vm", 6, 6, 3);
    addSample(b, 5, "vm", 9, 9, 100);
    expect(b.stages[0]).toEqual(emptyBatch("m", 2).stages[0]);
    expect(b.stages[1]).toMatchObject({ arrivals: 6, exits: 6, runs: { worker: 0, vm: 1 } });
    expect(b.computeMs).toEqual({ worker: 0, vm: 3 });
  });

  it("merged samples keep the newest MAX_SAMPLES_PER_BATCH", () => {
    const a = emptyBatch("m", 1);
    const b = emptyBatch("m", 1);
    for (let i = 0; i < MAX_SAMPLES_PER_BATCH; i++) {
      addRequest(a, SECOND_MS, "w0", 1, i);
      addRequest(b, SECOND_MS, "w0", 1, 1_000 + i);
      addSample(a, 0, "worker", 1, 1, i);
      addSample(b, 0, "worker", 1, 1, 1_000 + i);
      addDeepCall(a, "vm", i, 0);
      addDeepCall(b, "vm", 1_000 + i, 0);
    }
    mergeBatch(a, b);
    const newest = Array.from({ length: MAX_SAMPLES_PER_BATCH }, (_, i) => 1_000 + i);
    expect(a.latencyMs).toEqual(newest);
    expect(a.stages[0].serviceMs.worker).toEqual(newest);
    expect(a.queueMs.vm).toEqual(newest);
    expect(a.requests).toBe(2 * MAX_SAMPLES_PER_BATCH);
    expect(a.stages[0].runs.worker).toBe(2 * MAX_SAMPLES_PER_BATCH);
  });

  it("keeps at most MAX_SAMPLES_PER_BATCH samples, a uniform sample of all it saw", () => {
    const b = emptyBatch("m", 1);
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      addRequest(b, SECOND_MS, "w0", 1, i);
      addSample(b, 0, "vm", 1, 0, i);
      addDeepCall(b, "worker", i, 0);
    }
    for (const s of [b.latencyMs, b.stages[0].serviceMs.vm, b.queueMs.worker]) {
      expect(s).toHaveLength(MAX_SAMPLES_PER_BATCH);
      // A uniform sample of 0..n-1: mean n/2, standard error n/sqrt(12 x 256) ~ 361; 5 of them is ~1e-6.
      const mean = s.reduce((x, y) => x + y, 0) / s.length;
      expect(Math.abs(mean - n / 2)).toBeLessThan(5 * (n / Math.sqrt(12 * MAX_SAMPLES_PER_BATCH)));
      // Both halves of the stream are represented (not only the first or the last values).
      expect(s.some((v) => v < n / 2) && s.some((v) => v >= n / 2)).toBe(true);
    }
  });

  it("is empty until it counts a request, a failure or a stage arrival", () => {
    expect(isEmpty(emptyBatch("m", 2))).toBe(true);
    const withRequest = emptyBatch("m", 2);
    addRequest(withRequest, SECOND_MS, "w0", 1, 1);
    const withFailure = emptyBatch("m", 2);
    withFailure.failures = 1;
    const withArrival = emptyBatch("m", 2);
    addSample(withArrival, 1, "vm", 1, 0, 1);
    for (const b of [withRequest, withFailure, withArrival]) expect(isEmpty(b)).toBe(false);
  });
});
