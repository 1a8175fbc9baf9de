// vm-service's bookkeeping and limits over real HTTP, with a fake runner (the unit is the server, not the
// model): what /metrics counts after each outcome (served, queued, budget spent, refused at once, failed,
// bad frame), the body limit exactly at and one byte past it with and without Content-Length, a drain
// with a call in flight or queued, and a runner that throws.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { afterAll, describe, expect, it, vi } from "vitest";
import { createVmServer, DEFAULT_VM_SERVICE, VmService, type VmServiceConfig } from "./server.js";
import { DEEP_PATH } from "../core/deep.js";
import { WAIT_MEMORY, WAIT_PRIOR_PLACES } from "../core/routing.js";
import type { StageRunner } from "../core/engine.js";
import { encodeFrame } from "../core/frame.js";
import { TINY_MANIFEST } from "../core/fixtures.js";
import { parseManifest } from "../core/manifest.js";
import { signRequest } from "../core/signing.js";

const KEY = "vm-counters-key";
const WIDTH = 1024; // 4 KiB per row: a frame of 20 rows is over 64 KiB
const [s0, s1] = TINY_MANIFEST.stages;
const manifest = parseManifest({ ...TINY_MANIFEST, stages: [{ ...s0, hidden_shape: [-1, WIDTH] }, s1] });

/** A runner whose calls wait until the test lets them go (or fail them): the test decides when a slot frees. */
class Gate {
  held: Array<{ go: () => void; fail: (e: Error) => void }> = [];
  /** The first value of each runtime call's input, in the order the calls started. */
  started: number[] = [];
  /** A copy of the last input the runtime was given. */
  lastInput = new Float32Array(0);
  readonly runner: StageRunner = {
    run: (_stage, input, rows) => {
      this.started.push(input[0]);
      this.lastInput = input.slice();
      const probs = new Float32Array(rows * 2);
      for (let r = 0; r < rows; r++) probs.set([0.25, 0.75], r * 2);
      return new Promise((resolve, reject) => this.held.push({ go: () => resolve({ probs }), fail: reject }));
    },
  };
  release(): void {
    this.held.shift()!.go();
  }
  fail(message: string): void {
    this.held.shift()!.fail(new Error(message));
  }
}

/** Waits for a state of the server (never for a length of time). */
const until = (what: () => boolean) =>
  vi.waitFor(
    () => {
      if (!what()) throw new Error("not yet");
    },
    { timeout: 10_000, interval: 2 },
  );

const frame = (first: number, over: { rows?: number; waitBudgetMs?: number; model?: string } = {}) => {
  const rows = over.rows ?? 1;
  const data = new Float32Array(rows * WIDTH).map((_, i) => first + i / 1e6);
  return encodeFrame(
    { model: over.model ?? "tiny", fromStage: 1, shape: [rows, WIDTH], waitBudgetMs: over.waitBudgetMs },
    data,
  );
};

const servers: Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

async function start(over: Partial<VmServiceConfig> = {}) {
  const gate = new Gate();
  const vm = new VmService({
    ...DEFAULT_VM_SERVICE,
    id: "c",
    publicUrl: "http://127.0.0.1:1",
    signingKey: KEY,
    controllerUrl: null,
    models: ["tiny"],
    slots: 1,
    ...over,
  });
  vm.ready(new Map([["tiny", { manifest, runner: gate.runner }]]));
  const server = createVmServer(vm);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async (body: Uint8Array) =>
    fetch(url + DEEP_PATH, {
      method: "POST",
      body: body as Uint8Array<ArrayBuffer>,
      headers: await signRequest(KEY, vm.config.id, "POST", DEEP_PATH, body),
    });
  /** The body sent as a stream of the given chunk sizes: chunked, no Content-Length. */
  const stream = async (body: Uint8Array, chunks: (at: number) => number) =>
    fetch(url + DEEP_PATH, {
      method: "POST",
      body: new ReadableStream({
        start(c) {
          for (let at = 0; at < body.length; ) {
            const n = chunks(at);
            c.enqueue(body.slice(at, at + n));
            at += n;
          }
          c.close();
        },
      }),
      headers: await signRequest(KEY, vm.config.id, "POST", DEEP_PATH, body),
      duplex: "half",
    } as RequestInit);
  /** /metrics as name{outcome or quantile} -> value. */
  const metrics = async () => {
    const res = await fetch(`${url}/metrics`, {
      headers: await signRequest(KEY, vm.config.id, "GET", "/metrics", new Uint8Array(0)),
    });
    expect(res.status).toBe(200);
    const out: Record<string, number> = {};
    for (const f of parsePrometheusTextFormat(await res.text()) as any[])
      for (const m of f.metrics) {
        // (the parser keeps no labels of a summary's samples)
        if (!m.quantiles) expect(m.labels.vm).toBe("c");
        if (m.quantiles) for (const [q, v] of Object.entries(m.quantiles)) out[`${f.name}{${q}}`] = Number(v);
        else out[m.labels.outcome ? `${f.name}{${m.labels.outcome}}` : f.name] = Number(m.value);
      }
    return out;
  };
  /** Every counter and the two queue gauges, by a short name: compared whole, so a stray count fails. */
  const counts = async () => {
    const m = await metrics();
    return {
      ok: m["serflow_vm_requests_total{ok}"],
      rejectedFull: m["serflow_vm_requests_total{rejected_full}"],
      failed: m["serflow_vm_requests_total{failed}"],
      batches: m.serflow_vm_batches_total,
      inflight: m.serflow_vm_inflight_requests,
      queued: m.serflow_vm_queued_requests,
      waitAdmitted: m["serflow_vm_queue_waits_total{admitted}"],
      waitBudgetSpent: m["serflow_vm_queue_waits_total{budget_spent}"],
    };
  };
  return { vm, gate, url, call, stream, metrics, counts };
}

const zero = {
  ok: 0,
  rejectedFull: 0,
  failed: 0,
  batches: 0,
  inflight: 0,
  queued: 0,
  waitAdmitted: 0,
  waitBudgetSpent: 0,
};

describe("/metrics counts each outcome once", () => {
  it("before any call: every count 0, the configured slots, no wait, compute quantiles NaN", async () => {
    const s = await start({ slots: 3 });
    expect(await s.counts()).toEqual(zero);
    const m = await s.metrics();
    expect(m.serflow_vm_slots).toBe(3);
    expect(m.serflow_vm_queue_wait_max_seconds).toBe(0);
    expect(m["serflow_vm_compute_seconds{0.5}"]).toBeNaN();
    expect(m["serflow_vm_compute_seconds{0.99}"]).toBeNaN();
  });

  it("a call being run is in flight (one batch started, nothing served); once answered it is ok", async () => {
    const s = await start();
    const a = s.call(frame(1));
    await until(() => s.gate.held.length === 1);
    expect(await s.counts()).toEqual({ ...zero, batches: 1, inflight: 1 });
    s.gate.release();
    const res = await a;
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).results).toEqual([
      { row: 0, label: 1, exitStage: 1, confidence: 0.75, probs: [0.25, 0.75] },
    ]);
    expect(await s.counts()).toEqual({ ...zero, ok: 1, batches: 1 });
    const m = await s.metrics();
    expect(m["serflow_vm_compute_seconds{0.5}"]).toBeGreaterThan(0);
    expect(m["serflow_vm_compute_seconds{0.99}"]).toBeGreaterThanOrEqual(m["serflow_vm_compute_seconds{0.5}"]);
  });

  it("the call time the router plans waits with is the mean of the recent calls, not their median", async () => {
    // A model whose calls mostly exit early: three calls of 1 ms and one of 97 ms, one after another on
    // a clock the test moves. A full VM drains a call per mean call time per slot: 25 ms here, where the
    // median says 1.
    let clock = 0;
    const now = vi.spyOn(performance, "now").mockImplementation(() => clock);
    try {
      const s = await start();
      expect(s.vm.meanCallMs()).toBeNull();
      for (const ms of [1, 1, 97, 1]) {
        const c = s.call(frame(ms));
        await until(() => s.gate.held.length === 1);
        clock += ms;
        s.gate.release();
        expect((await c).status).toBe(200);
      }
      expect(s.vm.meanCallMs()).toBe(25);
      expect(s.vm.report().service_ms).toBe(25);
      expect((await s.metrics())["serflow_vm_compute_seconds{0.5}"]).toBe(0.001);
    } finally {
      now.mockRestore();
    }
  });

  it("the call time reported is corrected by the waits queued calls had: k x waits over places, a timed-out one at its budget", async () => {
    let clock = 0;
    const now = vi.spyOn(performance, "now").mockImplementation(() => clock);
    try {
      const s = await start();
      // One slot. A runs 40 ms; B, first in the queue (1 place), waits those 40 ms, then runs 1 ms.
      const a = s.call(frame(1));
      await until(() => s.gate.held.length === 1);
      const b = s.call(frame(2, { waitBudgetMs: 10_000 }));
      await until(() => s.vm.queued === 1);
      // C queues behind B (2 places) with a 5-ms budget that runs out: it counts 5 ms.
      const c = s.call(frame(3, { waitBudgetMs: 5 }));
      expect((await c).status).toBe(503);
      clock = 40;
      s.gate.release();
      await until(() => s.gate.held.length === 1);
      clock = 41;
      s.gate.release();
      expect([(await a).status, (await b).status]).toEqual([200, 200]);
      // Mean call 20.5 ms; C's 5 ms over 2 places (recorded first, so faded once), then B's 40 over 1,
      // with 5 prior places at the mean.
      expect(s.vm.meanCallMs()).toBe(20.5);
      const waited = 5 * WAIT_MEMORY + 40;
      const places = 2 * WAIT_MEMORY + 1;
      expect(s.vm.report().service_ms).toBeCloseTo(
        (1 * waited + WAIT_PRIOR_PLACES * 20.5) / (places + WAIT_PRIOR_PLACES),
        12,
      ); // 18.48, not 20.5
    } finally {
      now.mockRestore();
    }
  });

  it("a call that waits for a slot is queued meanwhile, then counted once as an admitted wait", async () => {
    const s = await start();
    const t0 = performance.now();
    const a = s.call(frame(1));
    await until(() => s.gate.held.length === 1);
    const b = s.call(frame(2, { waitBudgetMs: 10_000 }));
    await until(() => s.vm.queued === 1);
    expect(await s.counts()).toEqual({ ...zero, batches: 1, inflight: 1, queued: 1 });
    s.gate.release();
    expect((await a).status).toBe(200);
    // The slot went to the waiter: it runs now, still one call in flight.
    await until(() => s.gate.held.length === 1);
    expect(await s.counts()).toEqual({ ...zero, ok: 1, batches: 2, inflight: 1, waitAdmitted: 1 });
    s.gate.release();
    expect((await b).status).toBe(200);
    const elapsedS = (performance.now() - t0) / 1000;
    expect(await s.counts()).toEqual({ ...zero, ok: 2, batches: 2, waitAdmitted: 1 });
    const waited = (await s.metrics()).serflow_vm_queue_wait_max_seconds;
    expect(waited).toBeGreaterThan(0);
    expect(waited).toBeLessThan(elapsedS);
  });

  it("the longest admitted wait is kept: a shorter one after it does not lower it", async () => {
    const s = await start();
    s.vm.maxWaitMs = 60_000; // stands for an earlier long wait (the test does not spend a minute making one)
    const a = s.call(frame(1));
    await until(() => s.gate.held.length === 1);
    const b = s.call(frame(2, { waitBudgetMs: 10_000 }));
    await until(() => s.vm.queued === 1);
    s.gate.release();
    await until(() => s.gate.held.length === 1);
    s.gate.release();
    expect([(await a).status, (await b).status]).toEqual([200, 200]);
    expect(s.vm.waitedAdmitted).toBe(1);
    expect((await s.metrics()).serflow_vm_queue_wait_max_seconds).toBe(60);
  });

  it("a call whose wait budget runs out: 503 with Retry-After, counted as rejected_full and budget_spent", async () => {
    const s = await start({ queueMs: 10_000 });
    const a = s.call(frame(1));
    await until(() => s.gate.held.length === 1);
    // Its own budget (30 ms), not queue_ms, bounds the wait.
    const res = await s.call(frame(2, { waitBudgetMs: 30 }));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(((await res.json()) as any).error).toBe("VM c is full (1/1 slots busy)");
    // It left the queue: the slot, when freed, is not handed to it.
    expect(await s.counts()).toEqual({ ...zero, rejectedFull: 1, batches: 1, inflight: 1, waitBudgetSpent: 1 });
    s.gate.release();
    expect((await a).status).toBe(200);
    expect(await s.counts()).toEqual({ ...zero, ok: 1, rejectedFull: 1, batches: 1, waitBudgetSpent: 1 });
    expect((await s.metrics()).serflow_vm_queue_wait_max_seconds).toBe(0);
  });

  it.each([
    ["its frame carries a budget of 0 (whatever queue_ms says)", { queueMs: 10_000 }, 0],
    ["it carries no budget and queue_ms is 0", { queueMs: 0 }, undefined],
  ])("a call refused at once because %s counts as rejected_full, not as a wait", async (_why, over, budget) => {
    const s = await start(over);
    const a = s.call(frame(1));
    await until(() => s.gate.held.length === 1);
    const res = await s.call(frame(2, { waitBudgetMs: budget }));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(((await res.json()) as any).error).toBe("VM c is full (1/1 slots busy)");
    expect(await s.counts()).toEqual({ ...zero, rejectedFull: 1, batches: 1, inflight: 1 });
    s.gate.release();
    expect((await a).status).toBe(200);
  });

  it("the queue holds 8 calls per slot: the 8th waits, the 9th is refused at once; waiters run FIFO", async () => {
    const s = await start();
    const a = s.call(frame(100));
    await until(() => s.gate.held.length === 1);
    // One at a time, so the order they joined the queue is known.
    const waiting: Array<Promise<Response>> = [];
    for (let i = 1; i <= 8; i++) {
      waiting.push(s.call(frame(100 + i, { waitBudgetMs: 10_000 })));
      await until(() => s.vm.queued === i);
    }
    const ninth = await s.call(frame(109, { waitBudgetMs: 10_000 }));
    expect(ninth.status).toBe(503);
    expect(await s.counts()).toEqual({ ...zero, rejectedFull: 1, batches: 1, inflight: 1, queued: 8 });
    for (let i = 0; i < 9; i++) {
      await until(() => s.gate.held.length === 1);
      s.gate.release();
    }
    expect((await Promise.all([a, ...waiting])).map((r) => r.status)).toEqual(Array(9).fill(200));
    expect(s.gate.started).toEqual([100, 101, 102, 103, 104, 105, 106, 107, 108]);
    expect(await s.counts()).toEqual({ ...zero, ok: 9, rejectedFull: 1, batches: 9, waitAdmitted: 8 });
  });

  it("a runner that throws: 500 naming a ref (not the error), counted as failed, logged under the ref, and its slot goes on", async () => {
    const s = await start();
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const a = s.call(frame(1));
      await until(() => s.gate.held.length === 1);
      const b = s.call(frame(2, { waitBudgetMs: 10_000 }));
      await until(() => s.vm.queued === 1);
      s.gate.fail("session lost");
      const res = await a;
      expect(res.status).toBe(500);
      const { error } = (await res.json()) as { error: string };
      const ref = /^internal error \(ref ([0-9a-f]+)\)$/.exec(error)?.[1];
      expect(ref, error).toBeDefined();
      expect(logged).toHaveBeenCalledTimes(1);
      expect(logged.mock.calls[0].map(String).join(" ")).toMatch(new RegExp(`ref ${ref}:.*session lost`));
      // The waiter got the failed call's slot and is served.
      await until(() => s.gate.held.length === 1);
      s.gate.release();
      expect((await b).status).toBe(200);
      expect(await s.counts()).toEqual({ ...zero, ok: 1, failed: 1, batches: 2, waitAdmitted: 1 });
    } finally {
      logged.mockRestore();
    }
  });

  it("a bad frame in a free slot is the caller's mistake: 400, counted as none of ok, failed or rejected", async () => {
    const s = await start();
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const res = await s.call(frame(1, { model: "other" }));
      expect(res.status).toBe(400);
      expect(((await res.json()) as any).error).toMatch(/unknown model "other"/);
      expect(logged).not.toHaveBeenCalled();
    } finally {
      logged.mockRestore();
    }
    expect(await s.counts()).toEqual(zero);
    // Its slot was given back: the next call runs.
    const b = s.call(frame(2));
    await until(() => s.gate.held.length === 1);
    s.gate.release();
    expect((await b).status).toBe(200);
  });
});

describe("the body limit (maxBodyBytes), exactly at it and one byte past", () => {
  const body = frame(7, { rows: 20 }); // 80 KiB of data and its header: over the 64 KiB first buffer
  const sent = new Float32Array(body.buffer, body.length - 20 * WIDTH * 4, 20 * WIDTH);

  it("with Content-Length: a frame of exactly the limit is run whole; one byte over is refused with 413", async () => {
    const at = await start({ maxBodyBytes: body.length });
    const ok = at.call(body);
    await until(() => at.gate.held.length === 1);
    expect(at.gate.lastInput).toEqual(sent);
    at.gate.release();
    expect((await ok).status).toBe(200);
    const over = await start({ maxBodyBytes: body.length - 1 });
    const res = await over.call(body);
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).error).toBe(
      `frame of ${body.length} bytes exceeds the limit of ${body.length - 1} bytes`,
    );
    expect(over.gate.started).toEqual([]);
    expect(await over.counts()).toEqual(zero);
  });

  it.each([
    ["odd 4099-byte chunks", () => 4099],
    ["a first chunk of exactly 64 KiB, then the rest", (at: number) => (at === 0 ? 64 * 1024 : 1 << 20)],
  ])("without Content-Length, in %s: exactly the limit is run whole; one byte over is 413", async (_how, chunks) => {
    const at = await start({ maxBodyBytes: body.length });
    const ok = at.stream(body, chunks);
    await until(() => at.gate.held.length === 1);
    // Every byte arrived, in order, as the buffer grew past 64 KiB.
    expect(at.gate.lastInput).toEqual(sent);
    at.gate.release();
    const res = await ok;
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).results).toHaveLength(20);
    const over = await start({ maxBodyBytes: body.length - 1 });
    const refused = await over.stream(body, chunks);
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as any).error).toBe(`frame exceeds the limit of ${body.length - 1} bytes`);
    expect(over.gate.started).toEqual([]);
    // It keeps serving what fits.
    const small = over.call(frame(8));
    await until(() => over.gate.held.length === 1);
    over.gate.release();
    expect((await small).status).toBe(200);
  });
});

describe("draining", () => {
  it("with a call in flight: that call is answered, new calls get 503 'draining', and the drain waits for it", async () => {
    const s = await start({ drainTimeoutMs: 30_000 });
    const a = s.call(frame(1));
    await until(() => s.gate.held.length === 1);
    let drained = false;
    const draining = s.vm.drain().then(() => (drained = true));
    expect(s.vm.state).toBe("draining");
    const refused = await s.call(frame(2, { waitBudgetMs: 10_000 }));
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(((await refused.json()) as any).error).toBe("VM c is draining");
    const ready = await fetch(`${s.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ready: false, state: "draining" });
    expect((await fetch(`${s.url}/health/live`)).status).toBe(200);
    expect(drained).toBe(false);
    s.gate.release();
    const res = await a;
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).results).toHaveLength(1);
    await draining;
    expect(drained).toBe(true);
    // Refused for draining is not "full": only the served call is counted.
    expect(await s.counts()).toEqual({ ...zero, ok: 1, batches: 1 });
  });

  it("a call queued when the drain starts still gets its slot and is answered before the drain ends", async () => {
    const s = await start({ drainTimeoutMs: 30_000 });
    const a = s.call(frame(1));
    await until(() => s.gate.held.length === 1);
    const b = s.call(frame(2, { waitBudgetMs: 10_000 }));
    await until(() => s.vm.queued === 1);
    let drained = false;
    const draining = s.vm.drain().then(() => (drained = true));
    s.gate.release();
    expect((await a).status).toBe(200);
    await until(() => s.gate.held.length === 1);
    expect(drained).toBe(false);
    s.gate.release();
    expect((await b).status).toBe(200);
    await draining;
    expect(s.vm.inflight).toBe(0);
    expect(await s.counts()).toEqual({ ...zero, ok: 2, batches: 2, waitAdmitted: 1 });
  });

  it("gives up waiting after drainTimeoutMs; the call still in flight is answered when it ends", async () => {
    const s = await start({ drainTimeoutMs: 50 });
    const a = s.call(frame(1));
    await until(() => s.gate.held.length === 1);
    await s.vm.drain();
    expect(s.vm.inflight).toBe(1);
    s.gate.release();
    expect((await a).status).toBe(200);
    expect(s.vm.inflight).toBe(0);
  });
});
