// The inference path: shallow stages in this invocation, the rest on a VM or on Workers.
import {
  runStages,
  stageInputShape,
  type Pending,
  type RowResult,
  type StageRunner,
  type StageTiming,
} from "../core/engine.js";
import { DEEP_PATH, type DeepResult } from "../core/deep.js";
import { encodeFrame } from "../core/frame.js";
import { buildInferResponse, parseInferRequest, routeString, type InferRequest, type Tier } from "../core/oip.js";
import { chooseVms, handoverStage, type VmView } from "../core/routing.js";
import { signRequest } from "../core/signing.js";
import { UnavailableError } from "../core/errors.js";
import type { ModelManifest } from "../core/manifest.js";
import type { BundledModel } from "./models.js";
import { runnerFor } from "./ort.js";
import { currentRouting, localInflight } from "./routing-cache.js";
import { recordDeepCall, recordRequest, recordTimings } from "./stats-buffer.js";

/** How long a VM may take before its rows are retried on Workers. */
export const DEFAULT_VM_TIMEOUT_MS = 5_000;

export interface DeepStagesRpc {
  run(frame: Uint8Array): Promise<DeepResult>;
}

export async function infer(env: Env, ctx: ExecutionContext, model: BundledModel, body: unknown, deep: DeepStagesRpc) {
  const startMs = Date.now();
  const m = model.manifest;
  const req = parseInferRequest(body, m);
  const runner = await runnerFor(m, model.files);
  const table = await currentRouting(env, ctx, m.name);
  const handover = handoverStage(
    table,
    m.stages.map((s) => s.placement),
  );
  const all = { stage: 0, rows: Array.from({ length: req.rows }, (_, i) => i), data: req.data };
  const shallow = await runStages(runner, m, all, handover, req.exitThreshold);
  const results = shallow.results;
  recordTimings(m, shallow.timings, "worker");
  const tiers: Tier[] = shallow.timings.map(() => "w");
  if (shallow.pending) {
    const { timings, tier } = await runDeepStages(env, req, m, runner, shallow.pending, deep, table.vms, results);
    recordTimings(m, timings, tier === "v" ? "vm" : "worker");
    for (const _ of timings) tiers.push(tier);
  }
  const ordered: RowResult[] = all.rows.map((i) => {
    const r = results.get(i);
    if (!r) throw new Error(`row ${i} got no result`);
    return r;
  });
  const route = routeString(tiers);
  recordRequest(ctx, env, m, route, req.rows, startMs);
  return buildInferResponse(m, req, ordered, route);
}

/**
 * A free VM slot first (unless forced to Workers); a full, failed, slow or stopped VM falls through to
 * Workers with the same hidden state, so a VM going away never fails the request. On Workers the deep
 * stages run in this invocation, or in one of their own when SERFLOW_FAAS_DEEP=separate.
 */
async function runDeepStages(
  env: Env,
  req: InferRequest,
  m: ModelManifest,
  runner: StageRunner,
  pending: Pending,
  deep: DeepStagesRpc,
  vms: VmView[],
  results: Map<number, RowResult>,
): Promise<{ timings: StageTiming[]; tier: Tier }> {
  const frame = () =>
    encodeFrame(
      {
        model: m.name,
        fromStage: pending.stage,
        shape: stageInputShape(m, pending.stage, pending.rows.length),
        exitThreshold: req.exitThreshold,
      },
      pending.data,
    );
  const remote = async (tier: Tier, call: () => Promise<DeepResult | null>) => {
    const t0 = Date.now(); // the wall clock advances across I/O even where timers are coarse
    const out = await call();
    if (!out) return null;
    for (const r of out.results) results.set(pending.rows[r.row], r);
    recordDeepCall(
      m,
      tier === "v" ? "vm" : "worker",
      Date.now() - t0,
      out.timings.reduce((a, t) => a + t.ms, 0),
    );
    return { timings: out.timings, tier };
  };
  if (req.force === "vm" || (req.force !== "worker" && vms.length > 0)) {
    const candidates = chooseVms(vms, localInflight);
    if (req.force === "vm" && !vms.some((v) => v.state === "running"))
      throw new UnavailableError("serflow_force=vm but no VM is running yet", 5);
    const body = candidates.length ? frame() : null;
    for (const vm of candidates) {
      const done = await remote("v", () => callVm(env, vm, body!, pending.rows.length));
      if (done) return done;
    }
  }
  if (env.SERFLOW_FAAS_DEEP === "separate") return (await remote("w", () => deep.run(frame())))!;
  const out = await runStages(runner, m, pending, m.stages.length, req.exitThreshold);
  for (const [row, r] of out.results) results.set(row, r);
  return { timings: out.timings, tier: "w" };
}

/** Null when the VM is full, down, slow or answers badly: the caller retries on Workers. */
async function callVm(env: Env, vm: VmView, frame: Uint8Array, rows: number): Promise<DeepResult | null> {
  if (!env.SERFLOW_SIGNING_KEY) return null;
  localInflight.set(vm.id, (localInflight.get(vm.id) ?? 0) + 1);
  try {
    const headers = await signRequest(env.SERFLOW_SIGNING_KEY, "POST", DEEP_PATH, frame);
    const res = await fetch(vm.url + DEEP_PATH, {
      method: "POST",
      body: frame,
      headers: { ...headers, "content-type": "application/octet-stream" },
      signal: AbortSignal.timeout(Number(env.SERFLOW_VM_TIMEOUT_MS ?? DEFAULT_VM_TIMEOUT_MS)),
    });
    if (!res.ok) {
      await res.body?.cancel();
      return null;
    }
    const out = (await res.json()) as DeepResult;
    return Array.isArray(out?.results) && out.results.length === rows ? out : null;
  } catch {
    return null;
  } finally {
    localInflight.set(vm.id, (localInflight.get(vm.id) ?? 1) - 1);
  }
}
