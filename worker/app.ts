// HTTP surface of the Worker: Open Inference Protocol v2 plus the Serflow admin extension.
import { Hono, type Context } from "hono";
import {
  errorResponse,
  InvalidInputError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnavailableError,
} from "../core/errors.js";
import { runnerFor } from "./ort.js";
import { modelMetadata } from "../core/oip.js";
import { ReplayGuard, tokenEquals, verifyRequest } from "../core/signing.js";
import { parseVmId, parseVmReport } from "../core/vm-report.js";
import { workerEnv } from "../core/worker-env.js";
import { getModel, modelNames, type BundledModel } from "../models/registry.js";
import { infer, type DeepStagesRpc } from "./infer.js";
import { recordFailure } from "./stats-buffer.js";
import { renderMetrics, modelMetrics, costOf, costComparison } from "./metrics.js";
import { dashboardHtml, UPLOT_CSS, UPLOT_JS } from "./dashboard.js";

export const SERVER_VERSION = "0.1.0";

type C = Context<{ Bindings: Env }>;
const replayGuard = new ReplayGuard();

export function createApp(deepStages: (c: C) => DeepStagesRpc) {
  const app = new Hono<{ Bindings: Env }>();

  app.onError((err, c) => {
    const e = errorResponse(err);
    if (e.status === 500) console.error(err);
    return c.json(e.body, e.status, e.headers);
  });
  app.notFound(() => {
    throw new NotFoundError("no such route");
  });

  app.get("/v2", (c) =>
    c.json({ name: "serflow", version: SERVER_VERSION, extensions: ["model_repository", "serflow"] }),
  );
  app.get("/v2/health/live", (c) => c.json({ live: true }));
  // Ready means every stage's onnxruntime session loads in this isolate (and matches the manifest).
  app.get("/v2/health/ready", async (c) => {
    const all = await Promise.all(modelNames().map((n) => readiness(c, n)));
    const notReady = all.filter((r) => !r.ready);
    if (notReady.length) throw new UnavailableError(`not ready: ${notReady.map((r) => r.reason).join("; ")}`);
    return c.json({ ready: true });
  });
  // The model index (KServe's model repository extension lists the same at POST /v2/repository/index).
  app.get("/v2/models", async (c) => c.json({ models: await Promise.all(modelNames().map((n) => readiness(c, n))) }));
  app.post("/v2/repository/index", async (c) => {
    const all = await Promise.all(modelNames().map((n) => readiness(c, n)));
    return c.json(all.map(({ name, version, state, reason }) => ({ name, version, state, reason: reason ?? "" })));
  });
  app.get("/v2/models/:model", (c) => c.json(modelMetadata(model(c).manifest)));
  app.get("/v2/models/:model/ready", async (c) => {
    const r = await readiness(c, model(c).manifest.name);
    if (!r.ready) throw new UnavailableError(r.reason as string);
    return c.json({ name: r.name, ready: true });
  });

  app.post("/v2/models/:model/infer", async (c) => {
    const m = model(c);
    const body = await readJson(c);
    try {
      return c.json(await infer(c.env, execCtx(c), m, body, deepStages(c)));
    } catch (err) {
      if (errorResponse(err).status >= 500) recordFailure(execCtx(c), c.env, m.manifest);
      throw err;
    }
  });

  app.get("/v2/models/:model/stats", async (c) => {
    requireAdmin(c);
    return c.json(await c.env.STATS.getByName(model(c).manifest.name).stats());
  });
  app.get("/v2/models/:model/plan", async (c) => {
    requireAdmin(c);
    return c.json(await c.env.CONTROLLER.getByName(model(c).manifest.name).planView());
  });

  app.get("/v2/models/:model/dashboard", async (c) => {
    requireAdmin(c);
    const d = await modelMetrics(c.env, model(c).manifest.name);
    return c.json({
      now_s: d.stats.now_s,
      stats: { ...d.stats, per_second: d.stats.per_second.slice(-60) },
      plan: d.plan,
      cost_usd: costOf(d),
      savings: costComparison(d),
    });
  });
  app.get("/metrics", async (c) => {
    requireAdmin(c);
    const all = await Promise.all(modelNames().map((n) => modelMetrics(c.env, n)));
    return c.text(renderMetrics(all), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });
  // The page is opened in a browser, which cannot send a bearer header on navigation: ?token= here only.
  app.get("/dashboard", (c) => {
    requireAdmin(c, c.req.query("token"));
    return c.html(dashboardHtml(bundled(c.req.query("model") ?? modelNames()[0]).manifest.name));
  });
  app.get("/dashboard/uplot.js", (c) =>
    c.body(UPLOT_JS, 200, {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "public, max-age=86400",
    }),
  );
  app.get("/dashboard/uplot.css", (c) =>
    c.body(UPLOT_CSS, 200, { "content-type": "text/css; charset=utf-8", "cache-control": "public, max-age=86400" }),
  );

  // VM membership: signed by the VM with the shared key (replays and bad signatures get 401).
  app.post("/internal/v1/vms/:model/:action{heartbeat|deregister}", async (c) => {
    const m = model(c);
    const path = new URL(c.req.url).pathname;
    const body = new Uint8Array(await c.req.arrayBuffer());
    if (!c.env.SERFLOW_SIGNING_KEY)
      throw new UnauthorizedError("VM calls are disabled: SERFLOW_SIGNING_KEY is not set");
    await verifyRequest(
      c.env.SERFLOW_SIGNING_KEY,
      "POST",
      path,
      body,
      { get: (h) => c.req.header(h) ?? null },
      replayGuard,
    );
    let payload: unknown;
    try {
      payload = JSON.parse(new TextDecoder().decode(body));
    } catch {
      throw new InvalidInputError("vm report: body is not valid JSON");
    }
    const controller = c.env.CONTROLLER.getByName(m.manifest.name);
    if (c.req.param("action") === "deregister") {
      await controller.deregister(parseVmId(payload));
      return c.json({ ok: true });
    }
    return c.json(await controller.heartbeat(parseVmReport(payload)));
  });

  return app;
}

/**
 * Every path the app serves answers 405 to the methods it does not serve, not 404. Call it last: it
 * reads the routes registered so far (middleware, registered for all methods, is not a route).
 */
export function methodNotAllowedElsewhere(app: Hono<{ Bindings: Env }>): void {
  const paths = new Set(app.routes.filter((r) => r.method !== "ALL").map((r) => r.path));
  for (const path of paths)
    app.all(path, (c) => {
      throw new MethodNotAllowedError(`${c.req.method} is not allowed on ${new URL(c.req.url).pathname}`);
    });
}

/** Hono types its own ExecutionContext; the runtime hands over the Workers one. */
export function execCtx(c: C): ExecutionContext {
  return c.executionCtx as unknown as ExecutionContext;
}

interface Readiness {
  name: string;
  version: string;
  stages: number;
  ready: boolean;
  state: "READY" | "UNAVAILABLE";
  reason?: string;
}

/** Loads (once per isolate) the model's sessions; a manifest that parses is not enough. */
async function readiness(c: C, name: string): Promise<Readiness> {
  let m: BundledModel | undefined;
  try {
    m = bundled(name);
    await runnerFor(m, c.env.MODELS);
    return { name, version: m.manifest.version, stages: m.manifest.stages.length, ready: true, state: "READY" };
  } catch (err) {
    const v = m?.manifest;
    return {
      name,
      version: v?.version ?? "",
      stages: v?.stages.length ?? 0,
      ready: false,
      state: "UNAVAILABLE",
      reason: (err as Error).message,
    };
  }
}

function model(c: C): BundledModel {
  return bundled(c.req.param("model") ?? "");
}

function bundled(name: string): BundledModel {
  const m = getModel(name);
  if (!m) throw new NotFoundError(`unknown model "${name}"; available: ${modelNames().join(", ")}`);
  return m;
}

export function requireAdmin(c: C, queryToken?: string): void {
  const expected = c.env.SERFLOW_ADMIN_TOKEN;
  const header = c.req.header("authorization") ?? "";
  const given = header.startsWith("Bearer ") ? header.slice(7) : (queryToken ?? "");
  if (!expected) throw new UnauthorizedError("admin endpoints are disabled: SERFLOW_ADMIN_TOKEN is not set");
  if (!tokenEquals(given, expected)) throw new UnauthorizedError("missing or wrong bearer token");
}

/** Reads at most the configured number of bytes, then parses JSON. */
async function readJson(c: C): Promise<unknown> {
  const limit = workerEnv(c.env).maxBodyBytes;
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > limit)
    throw new PayloadTooLargeError(`request body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  const reader = c.req.raw.body?.getReader();
  if (!reader) throw new InvalidInputError("request body is empty; expected a JSON infer request");
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new PayloadTooLargeError(`request body exceeds the limit of ${limit} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let off = 0;
  for (const ch of chunks) {
    bytes.set(ch, off);
    off += ch.byteLength;
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new InvalidInputError(`request body is not valid JSON: ${(err as Error).message}`);
  }
}
