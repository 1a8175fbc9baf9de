// vm-service with the real model on onnxruntime-node, over real HTTP on a loopback port: signatures,
// admission (full -> 503), draining, batching of concurrent frames, size limits, and hostile frames
// (never a 5xx, never a crash).
import type { Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVmServer, DEFAULT_VM_SERVICE, VmService } from "./server.js";
import { loadModels } from "./models.js";
import { DEEP_PATH } from "../core/deep.js";
import { encodeFrame } from "../core/frame.js";
import { signRequest, verifyRequest, webCryptoHashes } from "../core/signing.js";
import { nodeHashes } from "./hashes.js";
import { runStages } from "../core/engine.js";
import { loadHeldout } from "../model/heldout.js";

const KEY = "vm-test-key";
const models = await loadModels(fileURLToPath(new URL("../models", import.meta.url)));
const mnist = models.get("mnist")!;
const { labels, rows } = loadHeldout();
let vm: VmService;
let h0: Float32Array[];

// One HTTP server per VmService, on a free port.
const servers = new Map<VmService, { server: Server; url: string }>();
async function urlOf(v: VmService): Promise<string> {
  if (!servers.has(v)) {
    const server = createVmServer(v);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.set(v, { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  }
  return servers.get(v)!.url;
}
afterAll(() => servers.forEach(({ server }) => server.close()));

const request = async (v: VmService, path: string, init?: RequestInit) => fetch((await urlOf(v)) + path, init);
const post = async (v: VmService, body: Uint8Array, key = KEY) => {
  const headers = await signRequest(key, v.config.id, "POST", DEEP_PATH, body);
  return request(v, DEEP_PATH, { method: "POST", body: body as Uint8Array<ArrayBuffer>, headers });
};
const call = (body: Uint8Array, key = KEY) => post(vm, body, key);
const frameOf = (i: number) =>
  encodeFrame({ model: "mnist", fromStage: 1, shape: [1, 16, 14, 14], exitThreshold: 1 }, h0[i]);

beforeAll(async () => {
  vm = new VmService({
    ...DEFAULT_VM_SERVICE,
    id: "t",
    publicUrl: "http://127.0.0.1:1",
    signingKey: KEY,
    controllerUrl: null,
    slots: 2,
    models: ["mnist"],
  });
  vm.ready(models);
  h0 = await Promise.all(
    rows
      .slice(0, 20)
      .map(
        async (r) =>
          (await runStages(mnist.runner, mnist.manifest, { stage: 0, rows: [0], data: r }, 1, 1)).pending!.data,
      ),
  );
});

describe("vm-service", () => {
  it("runs the deep stages for a signed frame", async () => {
    let correct = 0;
    for (let i = 0; i < 20; i++) {
      const res = await call(frameOf(i));
      expect(res.status).toBe(200);
      const out = (await res.json()) as any;
      expect(out.results).toHaveLength(1);
      expect(out.results[0].exitStage).toBe(2);
      if (out.results[0].label === labels[i]) correct++;
    }
    expect(correct).toBeGreaterThanOrEqual(18);
  });

  it("/metrics is Prometheus text: the 20 served, the slots and the compute quantiles", async () => {
    const res = await request(vm, "/metrics", {
      headers: await signRequest(KEY, "t", "GET", "/metrics", new Uint8Array(0)),
    });
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusTextFormat(await res.text()) as any[];
    const family = (name: string) => families.find((f) => f.name === name);
    expect(family("serflow_vm_requests_total").type).toBe("COUNTER");
    const ok = family("serflow_vm_requests_total").metrics.find((m: any) => m.labels.outcome === "ok");
    expect(ok).toMatchObject({ labels: { vm: "t" }, value: "20" });
    expect(family("serflow_vm_slots").metrics[0].value).toBe("2");
    const q = family("serflow_vm_compute_seconds").metrics[0].quantiles;
    expect(Number(q["0.5"])).toBeGreaterThan(0);
    expect(Number(q["0.99"])).toBeGreaterThanOrEqual(Number(q["0.5"]));
  });

  it("refuses unsigned, wrongly signed and replayed calls", async () => {
    const body = frameOf(0);
    expect((await request(vm, DEEP_PATH, { method: "POST", body: body as Uint8Array<ArrayBuffer> })).status).toBe(401);
    expect((await call(body, "other-key")).status).toBe(401);
    const headers = await signRequest(KEY, "t", "POST", DEEP_PATH, body);
    expect(
      (await request(vm, DEEP_PATH, { method: "POST", body: body as Uint8Array<ArrayBuffer>, headers })).status,
    ).toBe(200);
    const replay = await request(vm, DEEP_PATH, { method: "POST", body: body as Uint8Array<ArrayBuffer>, headers });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as any).error).toMatch(/replayed/);
  });

  it("a full VM answers 503 at once instead of queueing; a draining VM takes nothing new", async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => call(frameOf(i))));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    const drainer = new VmService({
      ...DEFAULT_VM_SERVICE,
      id: "d",
      publicUrl: "http://127.0.0.1:1",
      signingKey: KEY,
      controllerUrl: null,
      models: ["mnist"],
    });
    drainer.ready(models);
    await drainer.drain();
    const res = await post(drainer, frameOf(0));
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).error).toMatch(/draining/);
  });

  it("signed hostile frames get a 4xx JSON error, never a 5xx, and valid frames are still served", async () => {
    const hostile = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc
        .record({
          model: fc.oneof(fc.constant("mnist"), fc.string()),
          fromStage: fc.oneof(fc.integer({ min: -2, max: 5 }), fc.double()),
          shape: fc.array(fc.integer({ min: -1, max: 20 }), { maxLength: 5 }),
          exitThreshold: fc.oneof(fc.double(), fc.constant(undefined)),
        })
        .chain((h) =>
          fc.float32Array({ maxLength: 64 }).map((d) => {
            try {
              return encodeFrame(h as any, d);
            } catch {
              return new Uint8Array(0);
            }
          }),
        ),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(hostile, async (body) => {
        const res = await call(body);
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(typeof ((await res.json()) as any).error).toBe("string");
        if (++n % 20 === 0) expect((await call(frameOf(n % 20))).status).toBe(200);
      }),
      { numRuns: 300, seed: 11 },
    );
    expect(vm.failed).toBe(0);
  });
});

describe("batching, limits, hashes", () => {
  it("frames that arrive together run as fewer batches, and each gets the answer it gets alone", async () => {
    const v = new VmService({
      ...DEFAULT_VM_SERVICE,
      id: "b",
      publicUrl: "http://127.0.0.1:1",
      signingKey: KEY,
      controllerUrl: null,
      slots: 16,
      models: ["mnist"],
    });
    v.ready(models);
    // Threshold 0 exits every row at stage 1: a different batch key, run beside the others.
    const frame = (i: number) =>
      encodeFrame({ model: "mnist", fromStage: 1, shape: [1, 16, 14, 14], exitThreshold: i % 4 === 0 ? 0 : 1 }, h0[i]);
    const alone: any[] = [];
    for (let i = 0; i < 16; i++) alone.push(await (await post(v, frame(i))).json());
    const batchesBefore = v.batches;
    const together = await Promise.all(Array.from({ length: 16 }, async (_, i) => (await post(v, frame(i))).json()));
    expect(v.batches - batchesBefore).toBeLessThan(16);
    together.forEach((out: any, i) => {
      const one = alone[i].results[0];
      expect(out.results).toHaveLength(1);
      expect(out.results[0].exitStage).toBe(one.exitStage);
      expect(out.results[0].exitStage).toBe(i % 4 === 0 ? 1 : 2);
      expect(out.results[0].label).toBe(one.label);
      out.results[0].probs.forEach((p: number, k: number) => expect(p).toBeCloseTo(one.probs[k], 5));
      // Its own counts per stage, whatever it was batched with.
      expect(out.timings.map((t: any) => [t.stage, t.rows, t.exits])).toEqual(
        i % 4 === 0
          ? [[1, 1, 1]]
          : [
              [1, 1, 0],
              [2, 1, 1],
            ],
      );
    });
  });

  it("refuses a frame over the size limit with 413, declared or streamed", async () => {
    const v = new VmService({
      ...DEFAULT_VM_SERVICE,
      id: "l",
      publicUrl: "http://127.0.0.1:1",
      signingKey: KEY,
      controllerUrl: null,
      models: ["mnist"],
      maxBodyBytes: 1000,
    });
    v.ready(models);
    const res = await post(v, frameOf(0)); // 12.5 kB
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).error).toMatch(/exceeds the limit of 1000 bytes/);
    const stream = new ReadableStream({
      start: (c) => {
        c.enqueue(new Uint8Array(600));
        c.enqueue(new Uint8Array(600));
        c.close();
      },
    });
    // Signature headers present (so the body is read), the body over the limit as it streams in.
    const headers = await signRequest(KEY, "l", "POST", DEEP_PATH, new Uint8Array(1200));
    const chunked = await request(v, DEEP_PATH, {
      method: "POST",
      body: stream,
      headers,
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect((await post(v, new Uint8Array(10))).status).toBe(400); // and it keeps serving
  });

  it("a frame streamed in odd-sized chunks without Content-Length gets the answer it gets sent whole", async () => {
    const data = new Float32Array(8 * h0[0].length);
    h0.slice(0, 8).forEach((h, i) => data.set(h, i * h.length));
    const body = encodeFrame({ model: "mnist", fromStage: 1, shape: [8, 16, 14, 14], exitThreshold: 1 }, data); // 100 kB
    const whole = (await (await call(body)).json()) as any;
    const headers = await signRequest(KEY, "t", "POST", DEEP_PATH, body);
    const stream = new ReadableStream({
      start(c) {
        for (let at = 0; at < body.length; at += 4099) c.enqueue(body.slice(at, at + 4099));
        c.close();
      },
    });
    const res = await request(vm, DEEP_PATH, { method: "POST", body: stream, headers, duplex: "half" } as RequestInit);
    expect(res.status).toBe(200);
    const streamed = (await res.json()) as any;
    expect(streamed.results).toHaveLength(8);
    expect(streamed.results).toEqual(whole.results);
  });

  it("node:crypto and WebCrypto signatures verify each other", async () => {
    const body = frameOf(3);
    const get = (h: Record<string, string>) => ({ get: (k: string) => h[k] ?? null });
    await expect(
      verifyRequest(
        KEY,
        "POST",
        DEEP_PATH,
        body,
        get(await signRequest(KEY, "t", "POST", DEEP_PATH, body, Date.now(), nodeHashes)),
        null,
        Date.now(),
        webCryptoHashes,
      ),
    ).resolves.toMatchObject({ vm: "t" });
    await expect(
      verifyRequest(
        KEY,
        "POST",
        DEEP_PATH,
        body,
        get(await signRequest(KEY, "t", "POST", DEEP_PATH, body)),
        null,
        Date.now(),
        nodeHashes,
      ),
    ).resolves.toMatchObject({ vm: "t" });
    await expect(
      verifyRequest(
        "other",
        "POST",
        DEEP_PATH,
        body,
        get(await signRequest(KEY, "t", "POST", DEEP_PATH, body)),
        null,
        Date.now(),
        nodeHashes,
      ),
    ).rejects.toThrow(/bad request signature/);
  });
});

describe("waiting for a slot (vm.queue_ms)", () => {
  it("a full VM lets a request wait up to queue_ms for a slot, then answers 503", async () => {
    const one = (queueMs: number) => {
      const v = new VmService({
        ...DEFAULT_VM_SERVICE,
        id: `q${queueMs}`,
        publicUrl: "http://127.0.0.1:1",
        signingKey: KEY,
        controllerUrl: null,
        slots: 1,
        queueMs,
        models: ["mnist"],
      });
      v.ready(models);
      return v;
    };
    const send = async (v: VmService, i: number) => (await post(v, frameOf(i))).status;
    // 6 at once on one slot: with a generous wait all are served in turn, never more than one at a time.
    const patient = one(2_000);
    let maxInflight = 0;
    const watch = setInterval(() => (maxInflight = Math.max(maxInflight, patient.inflight)), 0);
    expect(await Promise.all([0, 1, 2, 3, 4, 5].map((i) => send(patient, i)))).toEqual([200, 200, 200, 200, 200, 200]);
    clearInterval(watch);
    expect(maxInflight).toBe(1);
    expect(patient.inflight).toBe(0);
    // Without waiting, the same burst overflows.
    const impatient = one(0);
    const statuses = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => send(impatient, i)));
    expect(statuses).toContain(503);
    expect(impatient.inflight).toBe(0);
  });
  it("a call waits FIFO for at most the budget it carries, whatever queue_ms says", async () => {
    const v = new VmService({
      ...DEFAULT_VM_SERVICE,
      id: "budget",
      publicUrl: "http://127.0.0.1:1",
      signingKey: KEY,
      controllerUrl: null,
      slots: 1,
      queueMs: 0,
      models: ["mnist"],
    });
    v.ready(models);
    const framed = (i: number, waitBudgetMs: number) =>
      encodeFrame({ model: "mnist", fromStage: 1, shape: [1, 16, 14, 14], exitThreshold: 1, waitBudgetMs }, h0[i]);
    // queue_ms 0, but each call carries 2 s: six at once on one slot are all served in turn.
    const all = await Promise.all([0, 1, 2, 3, 4, 5].map(async (i) => (await post(v, framed(i, 2_000))).status));
    expect(all).toEqual([200, 200, 200, 200, 200, 200]);
    // A slot held elsewhere: the call waits its 150 ms budget (counted as queued meanwhile), then 503.
    v.inflight = 1;
    const t0 = Date.now();
    const pending = post(v, framed(0, 150));
    await new Promise((r) => setTimeout(r, 50));
    expect(v.queued).toBe(1);
    const res = await pending;
    expect(res.status).toBe(503);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(145);
    expect(v.queued).toBe(0);
    v.inflight = 0;
  });
});

/** A raw TCP client: sends what it is told, records when the server answers and when it closes. */
function rawClient(url: string, head: string) {
  const { hostname, port } = new URL(url);
  const sock: Socket = connect(Number(port), hostname);
  const t0 = Date.now();
  let answer = "";
  const closed = new Promise<number>((r) => sock.on("close", () => r(Date.now() - t0)));
  sock.on("data", (d) => (answer += d.toString()));
  sock.on("error", () => {});
  sock.write(head);
  return { sock, closed, answer: () => answer };
}

describe("hostile connections (attacks of issue 14)", () => {
  const fresh = (over: Partial<typeof DEFAULT_VM_SERVICE> = {}) => {
    const v = new VmService({
      ...DEFAULT_VM_SERVICE,
      id: "h",
      publicUrl: "http://127.0.0.1:1",
      signingKey: KEY,
      controllerUrl: null,
      models: ["mnist"],
      ...over,
    });
    v.ready(models);
    return v;
  };
  const forged = {
    "x-serflow-vm": "h",
    "x-serflow-timestamp": String(Date.now()),
    "x-serflow-nonce": "00112233445566778899aabb",
    "x-serflow-signature": "ab".repeat(32),
  };
  const head = (headers: Record<string, string>, length: number) =>
    `POST ${DEEP_PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: ${length}\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("")}\r\n`;

  it("refuses an unsigned 64 MiB upload with 401 before reading it, and closes the connection", async () => {
    const v = fresh();
    const c = rawClient(await urlOf(v), head({}, 64 * 1024 * 1024));
    c.sock.write(Buffer.alloc(64 * 1024)); // a first piece of the body, then the client keeps the line open
    const closedAfterMs = await c.closed;
    expect(c.answer()).toMatch(/^HTTP\/1\.1 401/);
    expect(c.answer()).toMatch(/missing request signature/);
    expect(closedAfterMs).toBeLessThan(2_000);
  });

  it("refuses a forged signature on an 8 MiB upload with 401 before reading it, knowing the VM's id or not", async () => {
    for (const [headers, why] of [
      [{ ...forged, "x-serflow-content-sha256": "cd".repeat(32) }, /^bad request signature$/],
      [forged, /no body hash/],
    ] as const) {
      const v = fresh();
      const c = rawClient(await urlOf(v), head(headers, 8 * 1024 * 1024));
      c.sock.write(Buffer.alloc(64 * 1024));
      const closedAfterMs = await c.closed;
      expect(c.answer()).toMatch(/^HTTP\/1\.1 401/);
      expect(JSON.parse(c.answer().split("\r\n\r\n")[1]).error).toMatch(why);
      expect(closedAfterMs).toBeLessThan(2_000);
    }
  });

  it("refuses a frame addressed to another VM, even with that VM's valid signature", async () => {
    const a = fresh();
    const body = frameOf(0);
    // Signed correctly, with the key of VM "other" and naming it: VM "h" refuses it.
    const headers = await signRequest(KEY, "other", "POST", DEEP_PATH, body);
    const res = await request(a, DEEP_PATH, { method: "POST", body: body as Uint8Array<ArrayBuffer>, headers });
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error).toMatch(/addressed to VM "other", this is VM "h"/);
  });

  it("closes a connection that never finishes its headers within seconds", async () => {
    const v = fresh({ headersTimeoutMs: 1_500, requestTimeoutMs: 3_000 });
    const c = rawClient(await urlOf(v), `POST ${DEEP_PATH} HTTP/1.1\r\nhost: x\r\nx-slow: `);
    const closedAfterMs = await c.closed;
    expect(closedAfterMs).toBeGreaterThanOrEqual(1_400);
    expect(closedAfterMs).toBeLessThan(4_000);
  }, 10_000);

  it("allocates as data arrives: 16 signed uploads declaring 8 MiB and sending 1 KiB hold far less than 128 MiB", async () => {
    const v = fresh();
    const url = await urlOf(v);
    // Signed (a forged signature is refused before any body is read): only a key holder gets this far.
    const signed = await Promise.all(
      Array.from({ length: 16 }, () => signRequest(KEY, "h", "POST", DEEP_PATH, frameOf(0))),
    );
    global.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    const clients = signed.map((headers) => {
      const c = rawClient(url, head(headers, 8 * 1024 * 1024));
      c.sock.write(Buffer.alloc(1024));
      return c;
    });
    await new Promise((r) => setTimeout(r, 300));
    const grownMiB = (process.memoryUsage().arrayBuffers - before) / 2 ** 20;
    expect(grownMiB).toBeLessThan(16);
    // Aborted mid-upload: answered quietly, no 500 and no stack trace in the log.
    const errors: unknown[] = [];
    const orig = console.error;
    console.error = (...a: unknown[]) => errors.push(a);
    try {
      for (const c of clients) c.sock.destroy();
      await Promise.all(clients.map((c) => c.closed));
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      console.error = orig;
    }
    expect(errors).toEqual([]);
    expect(v.failed).toBe(0);
    expect((await post(v, frameOf(1))).status).toBe(200);
  });

  it("refuses connections beyond its limit", async () => {
    const v = fresh({ maxConnections: 3 });
    const url = await urlOf(v);
    const idle = Array.from({ length: 3 }, () => rawClient(url, ""));
    await new Promise((r) => setTimeout(r, 100));
    const extra = rawClient(url, "GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n");
    expect(await extra.closed).toBeLessThan(1_000);
    expect(extra.answer()).toBe("");
    for (const c of idle) c.sock.destroy();
  });

  it("serves /metrics only to signed callers", async () => {
    const v = fresh();
    expect((await request(v, "/metrics")).status).toBe(401);
    const headers = await signRequest(KEY, "h", "GET", "/metrics", new Uint8Array(0));
    const res = await request(v, "/metrics", { headers });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/serflow_vm_requests_total\{vm="h",outcome="ok"\}/);
  });
});
