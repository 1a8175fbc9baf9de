// The inference path: shallow stages in this invocation, the rest on a VM or on Workers.
import { runStages, stageInputShape, type Pending, type RowResult, type StageRunner } from "../core/engine.js";
import { checkDeepResult, DEEP_PATH, deepAnswerMaxBytes, type DeepResult } from "../core/deep.js";
import { encodeFrame } from "../core/frame.js";
import { buildInferResponse, parseInferRequest, routeString, type InferRequest } from "../core/oip.js";
import { chooseVms, handoverStage, type RoutingTable, type VmView } from "../core/routing.js";
import { signRequest, vmKey } from "../core/signing.js";
import { ForcedUnavailableError, fromWire, InvalidInputError, type WireError } from "../core/errors.js";
import type { ModelManifest } from "../core/manifest.js";
import { workerEnv } from "../core/worker-env.js";
import type { BundledModel } from "../models/registry.js";
import { runnerFor } from "./ort.js";
import { readAtMost } from "./read.js";
import { currentRouting, localInflight } from "./routing-cache.js";
import type { RequestObservation, StageRun, TierName } from "../core/stats-batch.js";
import { recordRequest } from "./stats-buffer.js";

/** The deep stages' results, or the error they failed with as data (what survives the RPC call). */
export type DeepAnswer = DeepResult | { error: WireError };

export interface DeepStagesRpc {
  run(frame: Uint8Array): Promise<DeepAnswer>;
}

/**
 * `isOperator` tells whether the caller holds the admin token. A request that overrides the exits
 * (`exit_threshold`) or the tier (`serflow_force`) is served for anyone, but counts in the stats that
 * drive scaling only when the operator sent it: a stranger cannot push the deep-stage load the policy
 * sees, and with it the VM count, by forcing every row to the last stage.
 */
export async function infer(
  env: Env,
  ctx: ExecutionContext,
  model: BundledModel,
  body: unknown,
  deep: DeepStagesRpc,
  isOperator: () => Promise<boolean>,
) {
  const startMs = Date.now();
  const m = model.manifest;
  const req = parseInferRequest(body, m);
  const runner = await runnerFor(model, env.MODELS);
  const table = await currentRouting(env, ctx, m.name);
  const handover = handoverStage(
    table,
    m.stages.map((s) => s.placement),
  );
  const all = { stage: 0, rows: Array.from({ length: req.rows }, (_, i) => i), data: req.data };
  const shallow = await runStages(runner, m, all, handover, req.exitThreshold);
  const results = shallow.results;
  const runs: StageRun[] = shallow.timings.map((t) => ({ ...t, tier: "worker" }));
  let deepCall: RequestObservation["deepCall"] = null;
  if (shallow.pending) {
    const out = await runDeepStages(env, req, m, runner, shallow.pending, deep, table, results);
    runs.push(...out.runs);
    deepCall = out.deepCall;
  }
  const ordered: RowResult[] = all.rows.map((i) => {
    const r = results.get(i);
    if (!r) throw new Error(`row ${i} got no result`);
    return r;
  });
  const route = routeString(runs.map((r) => (r.tier === "vm" ? "v" : "w")));
  const overrides = req.exitThreshold !== undefined || req.force !== undefined;
  if (!overrides || (await isOperator()))
    recordRequest(ctx, env, m, { route, rows: req.rows, latencyMs: Date.now() - startMs, runs, deepCall });
  return buildInferResponse(m, req, ordered, route);
}

/**
 * A free VM slot first (unless forced to Workers), else a full VM whose expected wait fits the plan's
 * admission limit (the call carries what is left of the wait budget; the VM answers 503 once it is
 * spent); a full, failed, slow or stopped VM falls through to Workers with the same hidden state, so a
 * VM going away never fails the request. On Workers the deep stages run in this invocation, or in one
 * of their own when the config's faas_deep is "separate".
 */
async function runDeepStages(
  env: Env,
  req: InferRequest,
  m: ModelManifest,
  runner: StageRunner,
  pending: Pending,
  deep: DeepStagesRpc,
  table: RoutingTable,
  results: Map<number, RowResult>,
): Promise<Pick<RequestObservation, "runs" | "deepCall">> {
  const vms = table.vms;
  const frame = (waitBudgetMs?: number) =>
    encodeFrame(
      {
        model: m.name,
        fromStage: pending.stage,
        shape: stageInputShape(m, pending.stage, pending.rows.length),
        exitThreshold: req.exitThreshold,
        ...(waitBudgetMs ? { waitBudgetMs: Math.round(waitBudgetMs) } : {}),
      },
      pending.data,
    );
  const remote = async (tier: TierName, call: () => Promise<DeepResult | null>) => {
    const t0 = Date.now(); // the wall clock advances across I/O even where timers are coarse
    const out = await call();
    if (!out) return null;
    for (const r of out.results) results.set(pending.rows[r.row], r);
    const computeMs = out.timings.reduce((a, t) => a + t.ms, 0);
    return {
      runs: out.timings.map((t) => ({ ...t, tier })),
      deepCall: { tier, wallMs: Date.now() - t0, computeMs },
    };
  };
  if (req.force === "vm" || (req.force !== "worker" && vms.length > 0)) {
    const budgetMs = req.force === "vm" ? 0 : (table.waitBudgetMs ?? 0);
    const candidates = chooseVms(vms, localInflight, Math.random, budgetMs, table.admitWaitMs);
    if (req.force === "vm" && !vms.some((v) => v.state === "running"))
      throw new ForcedUnavailableError("serflow_force=vm but no VM is running yet", 5);
    const t0 = Date.now();
    for (const vm of candidates) {
      // What the first try spent waiting is gone from the budget of the second.
      const body = frame(Math.max(0, budgetMs - (Date.now() - t0)));
      const done = await remote("vm", () => callVm(env, vm, body, m, pending));
      if (done) return done;
    }
  }
  const pinned = m.stages.findIndex((s, i) => i >= pending.stage && s.placement === "vm");
  if (req.force === "worker" && pinned !== -1)
    throw new InvalidInputError(`serflow_force=worker but stage ${pinned} runs on VMs only (placement "vm")`);
  if (workerEnv(env).control.faasDeep === "separate")
    return (await remote("worker", async () => {
      const out = await deep.run(frame());
      if ("error" in out) throw fromWire(out.error);
      return out;
    }))!;
  const out = await runStages(runner, m, pending, m.stages.length, req.exitThreshold);
  for (const [row, r] of out.results) results.set(row, r);
  return { runs: out.timings.map((t) => ({ ...t, tier: "worker" })), deepCall: null };
}

/** Null when the VM is full, down, slow or answers badly: the caller retries on Workers. */
async function callVm(
  env: Env,
  vm: VmView,
  frame: Uint8Array,
  m: ModelManifest,
  pending: Pending,
): Promise<DeepResult | null> {
  if (!env.SERFLOW_SIGNING_KEY) return null;
  localInflight.set(vm.id, (localInflight.get(vm.id) ?? 0) + 1);
  try {
    // Signed with this VM's own key and naming it: no other VM accepts the frame.
    const headers = await signRequest(await vmKey(env.SERFLOW_SIGNING_KEY, vm.id), vm.id, "POST", DEEP_PATH, frame);
    const t0 = Date.now(); // advances across the fetch even where timers stand still during compute
    const res = await fetch(vm.url + DEEP_PATH, {
      method: "POST",
      body: frame,
      headers: { ...headers, "content-type": "application/octet-stream" },
      signal: AbortSignal.timeout(workerEnv(env).vmTimeoutMs),
    });
    if (!res.ok) {
      await res.body?.cancel();
      return null;
    }
    // Read through what a right answer for these rows can take: a VM that answers more has failed. (The
    // frame limit, 8 MiB, let a VM add an object of 900,000 members, 1.2-1.7 s of JSON.parse here.)
    const bytes = await readAtMost(res.body, deepAnswerMaxBytes(m, pending.rows.length));
    if (!bytes) return null;
    const callMs = Date.now() - t0;
    return checkDeepResult(JSON.parse(new TextDecoder().decode(bytes)), m, pending.stage, pending.rows.length, callMs);
  } catch {
    return null;
  } finally {
    localInflight.set(vm.id, (localInflight.get(vm.id) ?? 1) - 1);
  }
}
