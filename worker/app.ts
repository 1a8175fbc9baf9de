// HTTP surface of the Worker: Open Inference Protocol v2 plus the Serflow admin extension.
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getCookie, setCookie } from "hono/cookie";
import {
  countsAsFailure,
  errorResponse,
  type ErrorResponse,
  ForbiddenError,
  InvalidInputError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnavailableError,
} from "../core/errors.js";
import { runnerFor } from "./ort.js";
import { readAtMost } from "./read.js";
import { checkJsonBudget, jsonBudget, type JsonBudget, modelMetadata } from "../core/oip.js";
import {
  signatureHeaders,
  tokenEquals,
  verifySignature,
  vmKey,
  webCryptoHashes,
  type SignatureHeaders,
} from "../core/signing.js";
import { HEARTBEAT_MAX_BYTES, MEMBERS_MAX_BYTES, parseMembers, parseVmId, parseVmReport } from "../core/vm-report.js";
import { workerEnv } from "../core/worker-env.js";
import { getModel, modelNames, type BundledModel } from "../models/registry.js";
import { infer, type DeepStagesRpc } from "./infer.js";
import { recordFailure } from "./stats-buffer.js";
import { renderMetrics, modelMetrics, costOf, costComparison } from "./metrics.js";
import { dashboardHtml, UPLOT_CSS, UPLOT_JS } from "./dashboard.js";

export const SERVER_VERSION = "0.1.0";

type E = { Bindings: Env; Variables: { signed: SignatureHeaders; admin: Promise<boolean> } };
type C = Context<E>;
/** The dashboard's session cookie: HttpOnly, SameSite=Strict, holding its expiry and a MAC, not the token. */
export const ADMIN_COOKIE = "serflow_admin";
/** How long a dashboard session lasts: the cookie's Max-Age, and the expiry its MAC covers. */
export const SESSION_S = 12 * 3600;

export function createApp(deepStages: (c: C) => DeepStagesRpc) {
  const app = new Hono<E>();

  app.onError(async (err, c) => {
    const e = answerTo(err, await detailFor(c));
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
    const all = await readinessOfAll(c);
    const notReady = all.filter((r) => !r.ready);
    if (notReady.length)
      throw new UnavailableError(
        `not ready: ${notReady.map((r) => r.reason).join("; ")}`,
        Math.max(...notReady.map((r) => r.retryAfterS ?? 1)),
      );
    return c.json({ ready: true });
  });
  // The model index (KServe's model repository extension lists the same at POST /v2/repository/index).
  app.get("/v2/models", async (c) => {
    const all = await readinessOfAll(c);
    return c.json({ models: all.map(({ retryAfterS: _, ...r }) => r) });
  });
  app.post("/v2/repository/index", async (c) => {
    const all = await readinessOfAll(c);
    return c.json(all.map(({ name, version, state, reason }) => ({ name, version, state, reason: reason ?? "" })));
  });
  app.get("/v2/models/:model", (c) => c.json(modelMetadata(model(c).manifest)));
  app.get("/v2/models/:model/ready", async (c) => {
    const r = await readiness(c, model(c).manifest.name, await detailFor(c));
    if (!r.ready) throw new UnavailableError(r.reason as string, r.retryAfterS);
    return c.json({ name: r.name, ready: true });
  });

  app.post("/v2/models/:model/infer", async (c) => {
    const m = model(c);
    try {
      const body = await readJson(c, jsonBudget(m.manifest)); // a misconfigured body limit is a failure too
      return c.json(await infer(c.env, execCtx(c), m, body, deepStages(c), () => isAdmin(c)));
    } catch (err) {
      if (countsAsFailure(err)) recordFailure(execCtx(c), c.env, m.manifest);
      throw err;
    }
  });

  app.get("/v2/models/:model/stats", adminAuth, async (c) => {
    return c.json(await c.env.STATS.getByName(model(c).manifest.name).stats());
  });
  app.get("/v2/models/:model/plan", adminAuth, async (c) => {
    return c.json(await c.env.CONTROLLER.getByName(model(c).manifest.name).planView());
  });

  app.get("/v2/models/:model/dashboard", adminAuth, async (c) => {
    const d = await modelMetrics(c.env, model(c).manifest.name);
    return c.json({
      now_s: d.stats.now_s,
      stats: { ...d.stats, per_second: d.stats.per_second.slice(-60) },
      plan: d.plan,
      cost_usd: costOf(d),
      savings: costComparison(d),
    });
  });
  app.get("/metrics", adminAuth, async (c) => {
    const all = await Promise.all(modelNames().map((n) => modelMetrics(c.env, n)));
    return c.text(renderMetrics(all), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });
  // A browser cannot send a bearer header on navigation: /dashboard?token= once, which trades the token for
  // an HttpOnly, SameSite=Strict cookie and redirects to a URL without it (no token in history or logs).
  app.get("/dashboard", dashboardLogin, adminAuth, (c) =>
    c.html(dashboardHtml(bundled(c.req.query("model") ?? modelNames()[0]).manifest.name)),
  );
  app.get("/dashboard/uplot.js", (c) =>
    c.body(UPLOT_JS, 200, {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "public, max-age=86400",
    }),
  );
  app.get("/dashboard/uplot.css", (c) =>
    c.body(UPLOT_CSS, 200, { "content-type": "text/css; charset=utf-8", "cache-control": "public, max-age=86400" }),
  );

  // The local provider's word on which VMs it launched (the aws provider's comes from the AWS API).
  app.put(
    "/internal/v1/vms/:model/members",
    adminAuth,
    bodyLimit({ maxSize: MEMBERS_MAX_BYTES, onError: tooLarge(MEMBERS_MAX_BYTES) }),
    async (c) => {
      const m = model(c);
      if ((c.env.SERFLOW_PROVIDER ?? "local") !== "local")
        throw new ForbiddenError(`VM membership comes from the ${c.env.SERFLOW_PROVIDER} provider, not from a call`);
      const members = parseMembers(parseJsonBody(new Uint8Array(await c.req.arrayBuffer()), "members"));
      return c.json(await c.env.CONTROLLER.getByName(m.manifest.name).setMembers(members));
    },
  );

  // A VM's heartbeat or goodbye, signed with its own key: headers are checked before the body is read, the
  // body through a cap of a few KiB; the controller admits only what the provider launched.
  app.post(
    "/internal/v1/vms/:model/:action{heartbeat|deregister}",
    signedByVm,
    bodyLimit({ maxSize: HEARTBEAT_MAX_BYTES, onError: tooLarge(HEARTBEAT_MAX_BYTES) }),
    async (c) => {
      const m = model(c);
      const signed = c.get("signed");
      const body = new Uint8Array(await c.req.arrayBuffer());
      const key = await vmKey(c.env.SERFLOW_SIGNING_KEY!, signed.vm);
      // No per-isolate replay cache: the controller checks the nonce, where every isolate's calls meet.
      await verifySignature(key, "POST", new URL(c.req.url).pathname, body, signed, null);
      const payload = parseJsonBody(body, "vm report");
      const id = parseVmId(payload);
      if (id !== signed.vm) throw new ForbiddenError(`vm report: for VM "${id}" but signed by VM "${signed.vm}"`);
      const controller = c.env.CONTROLLER.getByName(m.manifest.name);
      const out =
        c.req.param("action") === "deregister"
          ? await controller.deregister(id, Date.now(), signed.nonce)
          : await controller.heartbeat(parseVmReport(payload), Date.now(), signed.nonce);
      if ("refused" in out)
        throw out.refused === "replayed" ? new UnauthorizedError(out.error) : new ForbiddenError(out.error);
      return c.json(out);
    },
  );

  return app;
}

/**
 * Every path the app serves answers 405 to the methods it does not serve, not 404. Call it last: it
 * reads the routes registered so far (middleware, registered for all methods, is not a route).
 */
export function methodNotAllowedElsewhere(app: Hono<E>): void {
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
  /** When not ready: the seconds until this isolate tries to load the model again. */
  retryAfterS?: number;
}

async function readinessOfAll(c: C): Promise<Readiness[]> {
  const detail = await detailFor(c);
  return Promise.all(modelNames().map((n) => readiness(c, n, detail)));
}

/**
 * Loads (once per isolate) the model's sessions; a manifest that parses is not enough. The reason a
 * model is not ready names keys and files: in full only with `detail` (the admin token), else the stage and a ref.
 */
async function readiness(c: C, name: string, detail: boolean): Promise<Readiness> {
  let m: BundledModel | undefined;
  try {
    m = bundled(name);
    await runnerFor(m, c.env.MODELS);
    return { name, version: m.manifest.version, stages: m.manifest.stages.length, ready: true, state: "READY" };
  } catch (err) {
    const e = answerTo(err, detail);
    const v = m?.manifest;
    return {
      name,
      version: v?.version ?? "",
      stages: v?.stages.length ?? 0,
      ready: false,
      state: "UNAVAILABLE",
      reason: e.body.error,
      retryAfterS: err instanceof UnavailableError ? err.retryAfterS : undefined,
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

const tooLarge = (limit: number) => () => {
  throw new PayloadTooLargeError(`request body exceeds the limit of ${limit} bytes for this endpoint`);
};

function parseJsonBody(body: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new InvalidInputError(`${what}: body is not valid JSON`);
  }
}

/**
 * What the dashboard cookie holds: its expiry and an HMAC of it under the token. A fixed digest of the
 * token was a credential of its own that never expired: a copy of the cookie worked until the token changed.
 */
export async function dashboardSession(token: string, expiresMs: number): Promise<string> {
  return `${expiresMs}.${await webCryptoHashes.hmacSha256Hex(token, `serflow-dashboard-session:v2:${expiresMs}`)}`;
}

/** A session cookie the token signed, not yet expired, and not set to outlive SESSION_S. */
async function validSession(cookie: string, token: string, nowMs = Date.now()): Promise<boolean> {
  const m = /^(\d{1,15})\.[0-9a-f]{64}$/.exec(cookie);
  const expiresMs = Number(m?.[1]);
  if (!m || expiresMs <= nowMs || expiresMs > nowMs + SESSION_S * 1000) return false;
  return tokenEquals(cookie, await dashboardSession(token, expiresMs));
}

/** Whether the request carries the admin token (Bearer) or the dashboard's session cookie; checked once. */
function isAdmin(c: C): Promise<boolean> {
  if (!c.get("admin")) c.set("admin", checkAdmin(c));
  return c.get("admin");
}

async function checkAdmin(c: C): Promise<boolean> {
  const expected = c.env.SERFLOW_ADMIN_TOKEN;
  if (!expected) return false;
  const header = c.req.header("authorization") ?? "";
  if (header.startsWith("Bearer ")) return tokenEquals(header.slice(7), expected);
  // The cookie opens what the dashboard reads, nothing that acts: a same-site page's form POST carries
  // it, SameSite=Strict or not (e.g. to /internal/v1/bench/stage, 10,000 stage runs a request).
  if (c.req.method !== "GET" && c.req.method !== "HEAD") return false;
  const cookie = getCookie(c, ADMIN_COOKIE);
  return cookie !== undefined && validSession(cookie, expected);
}

/** The answer to `err`; a 500's full error is logged under the ref the answer names. */
function answerTo(err: unknown, detail: boolean): ErrorResponse {
  const e = errorResponse(err, { detail });
  if (e.ref) console.error(`serflow: ref ${e.ref}:`, err);
  return e;
}

/**
 * Whether failures are told in full (internal names, reasons): only to the operator, and then the answer
 * is not stored by any cache on the way, as behind adminAuth.
 */
async function detailFor(c: C): Promise<boolean> {
  const detail = await isAdmin(c).catch(() => false);
  if (detail) c.header("Cache-Control", "no-store");
  return detail;
}

/** Throws 401 unless the request is the operator's (see isAdmin). */
async function requireAdmin(c: C): Promise<void> {
  if (!c.env.SERFLOW_ADMIN_TOKEN)
    throw new UnauthorizedError("admin endpoints are disabled: SERFLOW_ADMIN_TOKEN is not set");
  if (!(await isAdmin(c))) throw new UnauthorizedError("missing or wrong bearer token");
}

/** bearerAuth-style middleware of every admin route: nothing behind the token is cached or leaks a referrer. */
export const adminAuth: MiddlewareHandler<E> = async (c, next) => {
  await requireAdmin(c);
  await next();
  c.res.headers.set("Cache-Control", "no-store");
  c.res.headers.set("Referrer-Policy", "no-referrer");
};

/** /dashboard?token=T: checks T once, sets the session cookie and redirects to the same URL without T. */
const dashboardLogin: MiddlewareHandler<E> = async (c, next) => {
  const token = c.req.query("token");
  if (token === undefined) return next();
  const expected = c.env.SERFLOW_ADMIN_TOKEN;
  if (!expected || !(await tokenEquals(token, expected))) throw new UnauthorizedError("missing or wrong token");
  const url = new URL(c.req.url);
  setCookie(c, ADMIN_COOKIE, await dashboardSession(expected, Date.now() + SESSION_S * 1000), {
    httpOnly: true,
    sameSite: "Strict",
    secure: url.protocol === "https:",
    path: "/",
    maxAge: SESSION_S,
  });
  url.searchParams.delete("token");
  c.header("Cache-Control", "no-store");
  c.header("Referrer-Policy", "no-referrer");
  return c.redirect(url.pathname + url.search, 303);
};

/** Signature headers present, well formed and fresh before anything reads the body. */
const signedByVm: MiddlewareHandler<E> = async (c, next) => {
  if (!c.env.SERFLOW_SIGNING_KEY) throw new UnauthorizedError("VM calls are disabled: SERFLOW_SIGNING_KEY is not set");
  c.set("signed", signatureHeaders({ get: (h) => c.req.header(h) ?? null }));
  await next();
};

/**
 * Reads at most the configured number of bytes, then parses JSON; with a budget, only a body within
 * its count of arrays and objects (checked before parsing).
 */
async function readJson(c: C, budget?: JsonBudget): Promise<unknown> {
  const limit = workerEnv(c.env).maxBodyBytes;
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > limit)
    throw new PayloadTooLargeError(`request body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  if (!c.req.raw.body) throw new InvalidInputError("request body is empty; expected a JSON infer request");
  const bytes = await readAtMost(c.req.raw.body, limit);
  if (!bytes) throw new PayloadTooLargeError(`request body exceeds the limit of ${limit} bytes`);
  if (budget) checkJsonBudget(bytes, budget);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new InvalidInputError(`request body is not valid JSON: ${(err as Error).message}`);
  }
}
