// The simulator's per-VM queues decide as the deployed router and vm-service do (hand-checked cases).
import { describe, expect, it } from "vitest";
import { VmQueues } from "./vm-queues.js";

describe("VmQueues", () => {
  it("a full VM takes a request whose expected wait fits the admission limit, FIFO, and refuses one that does not", () => {
    const q = new VmQueues(1, 1);
    q.add(0, 0);
    expect(q.route(0, 0.1, 0.1, 0.3, 0.15)).toEqual({ start: 0 });
    // Load 1 on 1 slot: expected wait (1 - 1 + 1) / 1 x 0.1 = 0.1 s <= 0.15: it queues behind the first.
    expect(q.route(0, 0.1, 0.1, 0.3, 0.15)).toEqual({ start: 0.1 });
    // Load 2: expected 0.2 s > 0.15 (it would fit the 0.3 s hold, not the limit): straight to FaaS.
    expect(q.route(0, 0.1, 0.1, 0.3, 0.15)).toBeNull();
    // No budget: never waits.
    expect(q.route(0.05, 0.1, 0.1, 0)).toBeNull();
    // Once the first two are done, the slot is free again.
    expect(q.route(0.2, 0.1, 0.1, 0)).toEqual({ start: 0.2 });
  });
  it("without an admission limit the whole budget admits, as the router does with a table that has none", () => {
    const q = new VmQueues(1, 1);
    q.add(0, 0);
    q.route(0, 0.1, 0.1, 0.25);
    q.route(0, 0.1, 0.1, 0.25);
    // Load 2 expects 0.2 s: it fits the 0.25 s budget; load 3 (0.3 s) does not.
    expect(q.route(0, 0.1, 0.1, 0.25)).toEqual({ start: 0.2 });
    expect(q.route(0, 0.1, 0.1, 0.25)).toBeNull();
  });
  it("a router that underestimates the wait sends a request that times out after its budget", () => {
    const q = new VmQueues(1, 1);
    q.add(0, 0);
    q.route(0, 0.1, 0.01, 0.15);
    q.route(0, 0.1, 0.01, 0.15);
    // Estimated (2 - 1 + 1) x 0.01 = 0.02 s, but the slot frees at 0.2 s: past the 0.15 s budget.
    expect(q.route(0, 0.1, 0.01, 0.15)).toEqual({ timedOut: true });
  });
  it("the VM learns from the waits it had: after two timeouts the estimate passes the admission limit", () => {
    const q = new VmQueues(1, 1);
    q.add(0, 0);
    q.route(0, 0.1, 0.01, 0.15, 0.075);
    q.route(0, 0.1, 0.01, 0.15, 0.075);
    // Each timed-out call counts its 0.15 s budget at 2 places: with the prior's 5 places at 0.01 s the
    // estimate is 0.02, then 0.057, then 0.078 s, past the 0.075 s limit: FaaS at once.
    expect(q.route(0, 0.1, 0.01, 0.15, 0.075)).toEqual({ timedOut: true });
    expect(q.route(0, 0.1, 0.01, 0.15, 0.075)).toEqual({ timedOut: true });
    expect(q.route(0, 0.1, 0.01, 0.15, 0.075)).toBeNull();
  });
  it("reports the running VMs' call time per place as their heartbeats do: the median of drainCallTime", () => {
    const q = new VmQueues(1, 1);
    q.add(0, 0);
    q.add(0, 10); // booting: it reports nothing
    q.route(0, 0.4, 0.1, 1);
    // The second waits 0.4 s at place 1: (1 x 0.4 + 5 places x 0.1) / (1 + 5) = 0.15 s a place.
    expect(q.route(0, 0.4, 0.1, 1)).toEqual({ start: 0.4 });
    expect(q.callMs(0, 0.1)).toBeCloseTo(150, 9);
    // A running VM that never queued reports the mean call: the median of 100 and 150 is the lower.
    q.add(0, 0);
    expect(q.callMs(0, 0.1)).toBeCloseTo(100, 9);
    expect(new VmQueues(1, 1).callMs(0, 0.1)).toBeUndefined();
  });
  it("free slots first (the less loaded of two), booting VMs never", () => {
    const q = new VmQueues(2, 7);
    q.add(0, 0);
    q.add(0, 0);
    q.add(0, 10); // booting until t = 10
    q.route(0, 1, 1, 0);
    q.route(0, 1, 1, 0);
    // Both running VMs now hold one each or one holds two; a fifth within 2 slots x 2 VMs still fits.
    expect(q.route(0, 1, 1, 0)).toEqual({ start: 0 });
    expect(q.route(0, 1, 1, 0)).toEqual({ start: 0 });
    expect(q.route(0, 1, 1, 0)).toBeNull();
    // Removal takes the booting VM first.
    expect(q.remove(0)).toEqual({ start: 0, end: 0 });
    expect(q.length).toBe(2);
    // Then the least loaded running one, billed until its work ends.
    expect(q.remove(0.5).end).toBe(1);
  });
});
