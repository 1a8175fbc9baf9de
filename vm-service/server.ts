// vm-service: runs the deep stages of early-exit models with onnxruntime-node for signed callers only,
// admits at most `slots` requests at once (a call to a full VM waits FIFO for at most the wait budget it
// carries, then gets 503 so the Worker finishes it on FaaS), reports itself to the controller by
// heartbeat, and drains on shutdown.
// The deep-stage call is served by plain node:http (hono's Request/Response adapter costs about as
// much CPU as the two stages of the demo model); health and metrics go through hono.
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { Hono } from "hono";
import { getRequestListener } from "@hono/node-server";
import { DeepBatcher, DEEP_PATH } from "../core/deep.js";
import {
  errorResponse,
  InvalidInputError,
  PayloadTooLargeError,
  statusOf,
  UnauthorizedError,
  UnavailableError,
  type ErrorResponse,
} from "../core/errors.js";
import {
  ReplayGuard,
  signatureHeaders,
  signRequest,
  verifyHeaders,
  verifySignature,
  type SignatureHeaders,
} from "../core/signing.js";
import { frameWaitBudgetMs } from "../core/frame.js";
import { QUEUE_PLACES_PER_SLOT } from "../core/policy.js";
import { drainCallTime, recordWait, type VmState, type WaitCalibration } from "../core/routing.js";
import { Exposition } from "../core/prometheus.js";
import type { LoadedModel } from "./models.js";
import { nodeHashes } from "./hashes.js";

export interface VmServiceConfig {
  id: string;
  /** URL the Worker uses to reach this VM. */
  publicUrl: string;
  /** This VM's own key, vmKey(master, id), from the provider that launched it (never the master). */
  signingKey: string;
  slots: number;
  /** Models this VM serves: it registers and beats for each, from boot on. */
  models: string[];
  /** How long a call that carries no wait budget may wait for a slot on a full VM before 503 (0: never). */
  queueMs: number;
  /** Worker base URL for registration and heartbeats; none: standalone. */
  controllerUrl: string | null;
  heartbeatIntervalMs: number;
  drainTimeoutMs: number;
  /** Largest frame accepted (413 beyond): 256 rows of the demo's widest hidden state are 3.2 MB. */
  maxBodyBytes: number;
  /** A connection that has not sent its headers within this is closed (Node's default is 60 s). */
  headersTimeoutMs: number;
  /** A request not received in full within this is closed (a slow body holds a buffer). */
  requestTimeoutMs: number;
  /** Connections beyond this are refused by the server (each may hold a frame buffer). */
  maxConnections: number;
}

export const DEFAULT_VM_SERVICE: Omit<VmServiceConfig, "id" | "publicUrl" | "signingKey" | "controllerUrl" | "models"> =
  {
    slots: 4,
    queueMs: 0,
    heartbeatIntervalMs: 1_000,
    drainTimeoutMs: 10_000,
    maxBodyBytes: 8 * 1024 * 1024,
    headersTimeoutMs: 5_000,
    requestTimeoutMs: 15_000,
    maxConnections: 256,
  };

const RECENT = 1024;

export class VmService {
  state: Exclude<VmState, "dead"> = "booting";
  inflight = 0;
  served = 0;
  rejected = 0;
  failed = 0;
  /** Calls that waited for a slot and got one, calls whose budget ran out, and the longest admitted wait. */
  waitedAdmitted = 0;
  waitedOut = 0;
  maxWaitMs = 0;
  private recentMs: number[] = [];
  private readonly waits: WaitCalibration = { waited: 0, places: 0 };
  private models = new Map<string, LoadedModel>();
  private guard = new ReplayGuard();
  private readonly batcher = new DeepBatcher((name) => {
    const m = this.models.get(name);
    return m && { manifest: m.manifest, runner: async () => m.runner };
  });
  private waiters: Array<(gotSlot: boolean) => void> = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  readonly app = new Hono();

  constructor(readonly config: VmServiceConfig) {
    const app = this.app;
    app.onError((err, c) => {
      const e = failure(err);
      return c.json(e.body, e.status, e.headers);
    });
    app.get("/health/live", (c) => c.json({ live: true }));
    app.get("/health/ready", (c) =>
      c.json({ ready: this.state === "running", state: this.state }, this.state === "running" ? 200 : 503),
    );
    // Signed like a deep-stage call (GET, empty body): load and ids are not for anyone who can connect.
    app.get("/metrics", async (c) => {
      const h = this.addressedToMe((n) => c.req.header(n) ?? null);
      await verifySignature(
        this.config.signingKey,
        "GET",
        "/metrics",
        new Uint8Array(0),
        h,
        this.guard,
        Date.now(),
        nodeHashes,
      );
      return c.text(this.metrics(), 200, { "content-type": "text/plain; version=0.0.4" });
    });
  }

  /** Signature headers present, fresh and naming this VM; throws 401 before any body is read. */
  private addressedToMe(header: (name: string) => string | null): SignatureHeaders {
    const h = signatureHeaders({ get: header });
    if (h.vm !== this.config.id)
      throw new UnauthorizedError(`call addressed to VM "${h.vm}", this is VM "${this.config.id}"`);
    return h;
  }

  /** The node:http listener: the deep-stage call directly, everything else through hono. */
  listener(): RequestListener {
    const rest = getRequestListener(this.app.fetch);
    return (req, res) => {
      if (req.url !== DEEP_PATH || req.method !== "POST") return void rest(req, res);
      const header = (h: string) => (req.headers[h] as string | undefined) ?? null;
      // Headers first: an unsigned or misaddressed upload is refused before a byte of its body is read.
      // The signature too, over the body hash the headers carry: a stranger who knows this VM's id is
      // refused before it can make the VM buffer and hash a body.
      let signed: SignatureHeaders;
      try {
        signed = this.addressedToMe(header);
      } catch (err) {
        return refuseUnread(req, res, failure(err));
      }
      void (async () => {
        try {
          await verifyHeaders(this.config.signingKey, "POST", DEEP_PATH, signed, nodeHashes);
        } catch (err) {
          return refuseUnread(req, res, failure(err));
        }
        try {
          send(res, 200, await this.deep(await this.readBody(req), signed));
        } catch (err) {
          const e = failure(err);
          send(res, e.status, e.body, e.headers);
        }
      })();
    };
  }

  /** The body in a buffer of its own (so the frame's data can be viewed in place, not copied again),
   *  grown as data arrives: a declared length is a claim, not a reason to allocate. */
  private readBody(req: IncomingMessage): Promise<Uint8Array> {
    const limit = this.config.maxBodyBytes;
    return new Promise((resolve, reject) => {
      const declared = req.headers["content-length"] === undefined ? null : Number(req.headers["content-length"]);
      if (declared !== null && declared > limit)
        return reject(new PayloadTooLargeError(`frame of ${declared} bytes exceeds the limit of ${limit} bytes`));
      // node:http has checked Content-Length is a number and ends the body there.
      let buf = Buffer.allocUnsafeSlow(Math.min(declared ?? 64 * 1024, 64 * 1024));
      let size = 0;
      req.on("data", (chunk: Buffer) => {
        if (size + chunk.length > limit) {
          req.removeAllListeners("data");
          req.resume(); // discard the rest (bounded by requestTimeoutMs), answer 413 at once
          return reject(new PayloadTooLargeError(`frame exceeds the limit of ${limit} bytes`));
        }
        if (size + chunk.length > buf.length)
          buf = Buffer.concat([buf.subarray(0, size)], Math.min(limit, 2 * (size + chunk.length)));
        chunk.copy(buf, size);
        size += chunk.length;
      });
      req.on("end", () => resolve(buf.subarray(0, size)));
      // A caller that hangs up mid-upload is its own mistake: a 4xx, not a logged 500.
      req.on("error", () => reject(new InvalidInputError("request body aborted by the client")));
    });
  }

  /** A frame whose signature headers were checked, the deep stages' results out; throws the domain errors. */
  async deep(body: Uint8Array, signed: SignatureHeaders): Promise<unknown> {
    await verifySignature(this.config.signingKey, "POST", DEEP_PATH, body, signed, this.guard, Date.now(), nodeHashes);
    if (this.state !== "running") throw new UnavailableError(`VM ${this.config.id} is ${this.state}`, 1);
    // A free slot is taken now; a full VM lets the call wait FIFO for one, at most its own wait budget.
    const free = this.inflight < this.config.slots;
    if (free) this.inflight++;
    let admitted = free;
    const budgetMs = free ? 0 : (frameWaitBudgetMs(body) ?? this.config.queueMs);
    // Refused at once (no budget, or the queue is full) is not a wait: only a call that queued counts as one.
    // (Timing the await told the two apart badly: the clock moves on even across an already-settled promise.)
    if (!free && this.canWait(budgetMs)) {
      const w0 = performance.now();
      const places = this.queued + 1;
      admitted = await this.waitForSlot(budgetMs);
      const waitedMs = admitted ? performance.now() - w0 : budgetMs;
      recordWait(this.waits, waitedMs, places);
      if (admitted) {
        this.waitedAdmitted++;
        this.maxWaitMs = Math.max(this.maxWaitMs, waitedMs);
      } else this.waitedOut++;
    }
    if (!admitted) {
      this.rejected++;
      throw new UnavailableError(`VM ${this.config.id} is full (${this.inflight}/${this.config.slots} slots busy)`, 1);
    }
    const t0 = performance.now();
    try {
      const out = await this.batcher.run(body);
      this.served++;
      this.recentMs[this.served % RECENT] = performance.now() - t0;
      return out;
    } catch (err) {
      if (statusOf(err) >= 500) this.failed++;
      throw err;
    } finally {
      // The slot passes straight to the oldest waiter (FIFO), so a newcomer cannot take it in between.
      const next = this.waiters.shift();
      if (next) next(true);
      else this.inflight--;
    }
  }

  /** Calls waiting for a slot. */
  get queued(): number {
    return this.waiters.length;
  }

  get batches(): number {
    return this.batcher.batches;
  }

  /** A call with a budget may join the queue while it has a free place (QUEUE_PLACES_PER_SLOT per slot). */
  private canWait(budgetMs: number): boolean {
    return budgetMs > 0 && this.waiters.length < this.config.slots * QUEUE_PLACES_PER_SLOT;
  }

  /** Waits in the queue at most budgetMs for a slot (false: none came). */
  private waitForSlot(budgetMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve(false);
      }, budgetMs);
      const wake = (got: boolean) => {
        clearTimeout(timer);
        resolve(got);
      };
      this.waiters.push(wake);
    });
  }

  /** Boot is over: models are loaded and the VM takes requests. */
  ready(models: Map<string, LoadedModel>): void {
    this.models = models;
    this.state = "running";
    void this.heartbeat();
  }

  startHeartbeats(): void {
    if (!this.config.controllerUrl || this.timer) return;
    void this.heartbeat();
    this.timer = setInterval(() => void this.heartbeat(), this.config.heartbeatIntervalMs);
    this.timer.unref();
  }

  private percentile(q: number): number | null {
    const xs = this.recentMs.filter((x) => x !== undefined).sort((a, b) => a - b);
    return xs.length ? xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] : null;
  }

  /** The mean of the recent call times (ms); null before the first. */
  meanCallMs(): number | null {
    const xs = this.recentMs.filter((x) => x !== undefined);
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
  }

  /** The call time per queue place the router plans waits with (core/routing.ts drainCallTime). */
  drainCallMs(): number | null {
    const mean = this.meanCallMs();
    return mean === null ? null : drainCallTime(this.waits, mean, this.config.slots);
  }

  /** What a heartbeat tells the controller. */
  report() {
    return {
      id: this.config.id,
      url: this.config.publicUrl,
      state: this.state,
      inflight: this.inflight,
      queued: this.queued,
      slots: this.config.slots,
      // The router's expected wait on a full VM is its place times this over the slots: the mean call
      // time, corrected by what the waits here took (a median, where calls exit at different depths,
      // can be a tenth of the mean; heavy tails make waits longer than the mean says).
      service_ms: this.drainCallMs(),
    };
  }

  /** Registration and heartbeat in one signed call per model; failures are logged and retried next beat. */
  async heartbeat(): Promise<void> {
    if (!this.config.controllerUrl) return;
    const report = this.report(); // one reading for every model's beat
    await Promise.all(this.config.models.map((m) => this.post(`/internal/v1/vms/${m}/heartbeat`, report)));
  }

  private async post(path: string, payload: unknown): Promise<void> {
    const body = new TextEncoder().encode(JSON.stringify(payload));
    try {
      const headers = await signRequest(
        this.config.signingKey,
        this.config.id,
        "POST",
        path,
        body,
        Date.now(),
        nodeHashes,
      );
      const res = await fetch(this.config.controllerUrl + path, {
        method: "POST",
        body,
        headers: { ...headers, "content-type": "application/json" },
        signal: AbortSignal.timeout(2_000),
      });
      if (!res.ok) console.warn(`vm ${this.config.id}: ${path} answered ${res.status}: ${await res.text()}`);
    } catch (err) {
      console.warn(`vm ${this.config.id}: ${path} failed: ${(err as Error).message}`);
    }
  }

  /** Stop taking new requests, tell the controller, wait for in-flight ones (bounded), then stop beating. */
  async drain(): Promise<void> {
    this.state = "draining";
    await this.heartbeat();
    const deadline = Date.now() + this.config.drainTimeoutMs;
    while (this.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.config.controllerUrl) {
      await Promise.all(
        this.config.models.map((m) => this.post(`/internal/v1/vms/${m}/deregister`, { id: this.config.id })),
      );
    }
  }

  metrics(): string {
    const vm = { vm: this.config.id };
    const x = new Exposition();
    x.family("serflow_vm_requests_total", "counter", "Deep-stage requests by outcome.");
    x.sample("serflow_vm_requests_total", { ...vm, outcome: "ok" }, this.served);
    x.sample("serflow_vm_requests_total", { ...vm, outcome: "rejected_full" }, this.rejected);
    x.sample("serflow_vm_requests_total", { ...vm, outcome: "failed" }, this.failed);
    x.family("serflow_vm_batches_total", "counter", "Runtime calls for deep stages (requests / batches = mean batch).");
    x.sample("serflow_vm_batches_total", vm, this.batches);
    x.family("serflow_vm_inflight_requests", "gauge", "Requests being served now.");
    x.sample("serflow_vm_inflight_requests", vm, this.inflight);
    x.family("serflow_vm_queued_requests", "gauge", "Calls waiting for a slot now.");
    x.sample("serflow_vm_queued_requests", vm, this.queued);
    x.family(
      "serflow_vm_queue_waits_total",
      "counter",
      "Calls that waited for a slot, by outcome (admitted, or budget spent: 503).",
    );
    x.sample("serflow_vm_queue_waits_total", { ...vm, outcome: "admitted" }, this.waitedAdmitted);
    x.sample("serflow_vm_queue_waits_total", { ...vm, outcome: "budget_spent" }, this.waitedOut);
    x.family("serflow_vm_queue_wait_max_seconds", "gauge", "Longest wait of an admitted call.");
    x.sample("serflow_vm_queue_wait_max_seconds", vm, this.maxWaitMs / 1000);
    x.family("serflow_vm_slots", "gauge", "Requests this VM serves at once.");
    x.sample("serflow_vm_slots", vm, this.config.slots);
    x.family(
      "serflow_vm_compute_seconds",
      "summary",
      `Deep-stage compute time per request over the last ${RECENT} requests (NaN before the first).`,
    );
    for (const q of [0.5, 0.99])
      x.sample("serflow_vm_compute_seconds", { ...vm, quantile: q }, (this.percentile(q) ?? Number.NaN) / 1000);
    return x.text();
  }
}

/**
 * The domain error's response; an unexpected one (500) is logged under the ref its answer names (the
 * answer says no more: the Worker does not pass it on, and a stranger learns nothing), the caller's
 * mistakes are not logged.
 */
function failure(err: unknown): ErrorResponse {
  const e = errorResponse(err);
  if (e.ref) console.error(`vm-service: ref ${e.ref}:`, err);
  return e;
}

/** Answers without reading the body, then closes the connection so the rest is never received. */
function refuseUnread(req: IncomingMessage, res: ServerResponse, e: ErrorResponse): void {
  req.removeAllListeners("data");
  req.pause();
  send(res, e.status, e.body, { ...e.headers, connection: "close" });
  // Half-close first so the answer is not lost to a reset while the client is still sending; the paused
  // socket lets TCP hold the rest back, and the connection goes a second later whatever the client does.
  res.once("finish", () => {
    req.socket.end();
    setTimeout(() => req.socket.destroy(), 1_000).unref();
  });
}

/** The HTTP server of a VM, with limits sized in seconds and connections rather than Node's defaults. */
export function createVmServer(vm: VmService): Server {
  const c = vm.config;
  const server = createServer(
    {
      headersTimeout: c.headersTimeoutMs,
      requestTimeout: c.requestTimeoutMs,
      // How often those timeouts are checked (Node's default, 30 s, would let a slow client stay that long).
      connectionsCheckingInterval: 1_000,
      keepAliveTimeout: 5_000,
    },
    vm.listener(),
  );
  server.maxConnections = c.maxConnections;
  return server;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(json) });
  res.end(json);
}
