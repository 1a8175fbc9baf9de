// The inference path: shallow stages in this invocation, the rest on a VM or on further Workers.
import { runStages, type Pending, type RowResult } from "../core/engine.js";
import { DEEP_PATH, type DeepResult } from "../core/deep.js";
import { encodeFrame } from "../core/frame.js";
import { stageInputShape } from "../core/engine.js";
import { buildInferResponse, parseInferRequest, routeString, type InferRequest, type Tier } from "../core/oip.js";
import { chooseVms, handoverStage, type VmView } from "../core/routing.js";
import { signRequest } from "../core/signing.js";
import { UnavailableError } from "../core/errors.js";
import type { BundledModel } from "./models.js";
import { runnerFor } from "./ort.js";
import { currentRouting, localInflight } from "./routing-cache.js";
import { recordDeepCall, recordRequest, recordTimings } from "./stats-buffer.js";
import type { Env } from "./env.js";

/** How long a VM may take before its rows are retried on Workers. */
export const VM_TIMEOUT_MS = 5_000;

export interface DeepStagesRpc {
  run(frame: Uint8Array): Promise<DeepResult>;
}

export async function infer(env: Env, ctx: ExecutionContext, model: BundledModel, body: unknown, deep: DeepStagesRpc) {
  const m = model.manifest;
  const req = parseInferRequest(body, m);
  const runner = await runnerFor(m, model.files);
  const table = await currentRouting(env, ctx, m.name);
  const handover = handoverStage(table, m.stages.map((s) => s.placement));
  const all = { stage: 0, rows: Array.from({ length: req.rows }, (_, i) => i), data: req.data };
  const shallow = await runStages(runner, m, all, handover, req.exitThreshold);
  const results = shallow.results;
  recordTimings(m, shallow.timings, "worker");
  const tiers: Tier[] = shallow.timings.map(() => "w");
  if (shallow.pending) {
    const t0 = Date.now(); // wall clock advances across I/O even where timers are coarse
    const { deepResult, tier } = await runDeepStages(env, req, m.name, shallow.pending, stageInputShape(m, shallow.pending.stage, shallow.pending.rows.length), deep, table.vms);
    for (const r of deepResult.results) results.set(shallow.pending.rows[r.row], r);
    recordTimings(m, deepResult.timings, tier === "v" ? "vm" : "worker");
    recordDeepCall(m, tier === "v" ? "vm" : "worker", Date.now() - t0, deepResult.timings.reduce((a, t) => a + t.ms, 0));
    for (const _ of deepResult.timings) tiers.push(tier);
  }
  const ordered: RowResult[] = all.rows.map((i) => {
    const r = results.get(i);
    if (!r) throw new Error(`row ${i} got no result`);
    return r;
  });
  const route = routeString(tiers);
  recordRequest(ctx, env, m, route, req.rows);
  return buildInferResponse(m, req, ordered, route);
}

/** VMs first (unless forced to Workers); any VM failure or a full VM falls through to Workers. */
async function runDeepStages(
  env: Env,
  req: InferRequest,
  model: string,
  pending: Pending,
  shape: number[],
  deep: DeepStagesRpc,
  vms: VmView[],
): Promise<{ deepResult: DeepResult; tier: Tier }> {
  const frame = encodeFrame({ model, fromStage: pending.stage, shape, exitThreshold: req.exitThreshold }, pending.data);
  const useVm = req.force === "vm" || (req.force !== "worker" && vms.length > 0);
  if (useVm) {
    const candidates = chooseVms(vms, localInflight);
    if (req.force === "vm" && candidates.length === 0 && !vms.some((v) => v.state === "running")) {
      throw new UnavailableError("serflow_force=vm but no VM is running yet", 5);
    }
    for (const vm of candidates) {
      const r = await callVm(env, vm, frame, pending.rows.length);
      if (r) return { deepResult: r, tier: "v" };
    }
  }
  return { deepResult: await deep.run(frame), tier: "w" };
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
      signal: AbortSignal.timeout(VM_TIMEOUT_MS),
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
